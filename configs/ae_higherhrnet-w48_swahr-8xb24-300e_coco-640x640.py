# HigherHRNet-W48 + SWAHR (arXiv 2012.15175), 640x640, COCO, as the authors'
# experiments/coco/higher_hrnet/w48_640_adam_lr1e-3.yaml: the plain W48
# twin with `with_swahr=True` and SWAHRLoss. Schedule: Adam, lr 1e-3 for a
# total batch of 80 (8 GPUs x 10 at 1.2e-4 each in the yaml, i.e. 9.6e-4;
# `--auto-scale-lr` rescales to 8 x 24), 3 warm-up epochs from 0.1 lr, then
# linear decay to 0 at epoch 300 (per iteration). The yaml's SYNC_BN is not
# set here (add `sync_bn='torch'` for multi-GPU runs).
_base_ = ['./ae_higherhrnet-w48_8xb24-300e_coco-640x640.py']

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
