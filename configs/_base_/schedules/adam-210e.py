# The top-down heatmap schedule of mmpose / SimpleBaseline: Adam 5e-4,
# 500-iteration linear warm-up, x0.1 at epochs 170 and 200.
_base_ = ['../default_runtime.py']

train_cfg = dict(by_epoch=True, max_epochs=210, val_interval=10)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-4))

param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001,
         by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200],
         gamma=0.1, by_epoch=True),
]

# lr above is for 8 GPUs x 64 images; `--auto-scale-lr` rescales it.
auto_scale_lr = dict(base_batch_size=512)
