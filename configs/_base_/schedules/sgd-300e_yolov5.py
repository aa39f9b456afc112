# YOLOv5's schedule (hyp.scratch, as YOLO-Pose trained): SGD lr 0.01,
# momentum 0.937, Nesterov, weight decay 5e-4 (not on norms and biases),
# 3 warm-up epochs, then a linear decay to 0.2 x lr at epoch 300; EMA of the
# weights (YOLOv5's ModelEMA: decay 0.9999 ramped in over ~2000 iterations).
_base_ = ['../default_runtime.py']

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.937, weight_decay=5e-4,
        nesterov=True),
    paramwise_cfg=dict(
        norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True),
    clip_grad=dict(max_norm=10.0, norm_type=2))

param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.2, by_epoch=True,
         begin=3, end=300, convert_to_iter_based=True),
]

# lr above is for YOLOv5's nominal batch of 64 images
auto_scale_lr = dict(base_batch_size=64)

custom_hooks = [
    dict(type='SyncNormHook', priority=48),
    dict(
        type='EMAHook',
        ema_type='ExpMomentumEMA',
        momentum=0.0001,
        update_buffers=True,
        strict_load=False,
        priority=49),
]
