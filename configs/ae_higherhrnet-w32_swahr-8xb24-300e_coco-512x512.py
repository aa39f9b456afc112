# HigherHRNet-W32 + SWAHR (arXiv 2012.15175), 512x512, COCO, as the authors'
# experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml: the plain twin's
# model with `with_swahr=True` (a scale branch per resolution) and SWAHRLoss
# (gamma 0.01, scale regulariser weight 1) at both resolutions.
# Schedule (the authors' trainer): Adam, lr 1e-3 for a total batch of 80
# (4 GPUs x 20; `--auto-scale-lr` rescales it to this config's 8 x 24),
# no weight decay, linear warm-up from 0.1 lr over 3 epochs, then linear
# decay to 0 at epoch 300 (both per iteration).
_base_ = ['./ae_higherhrnet-w32_8xb24-300e_coco-512x512.py']

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, end_factor=1.0, begin=0, end=3,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=3, end=300,
         by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=80)

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
