# HigherHRNet + SWAHR (arXiv 2012.15175) at the tiny CPU size of
# ae_higherhrnet-tiny_1xb4-300e_coco-tiny-256x256 (same model, schedule and
# data): `with_swahr=True` and SWAHRLoss at both resolutions.
_base_ = ['./ae_higherhrnet-tiny_1xb4-300e_coco-tiny-256x256.py']

model = dict(
    head=dict(
        with_swahr=True,
        scale_kernel_size=9,
        keypoint_loss=dict(
            type='SWAHRLoss',
            _delete_=True,
            gamma=0.01,
            loss_weight=1.0,
            scale_loss_weight=1.0)))
