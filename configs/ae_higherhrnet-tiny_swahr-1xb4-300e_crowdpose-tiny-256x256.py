# HigherHRNet + SWAHR at the tiny CPU size on the CrowdPose-format fixture data/crowdpose_tiny (14 keypoints, head top
# and neck derived; see its README).
# Twin of ae_higherhrnet-tiny_swahr-1xb4-300e_coco-tiny-256x256.py, the same
# text but for the `_base_` line (its parent's CrowdPose twin).
_base_ = ['./ae_higherhrnet-tiny_1xb4-300e_crowdpose-tiny-256x256.py']

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
