# YOLOv5's optimiser, schedule, EMA and AMP as YOLO-Pose trained
# (edgeai-yolov5 yolo-pose train.py with data/hyp.scratch.yaml; KAPAO's
# train.py and hyp.kp-p6.yaml have the same values, only 500 epochs):
# - SGD, Nesterov, lr0 0.01, momentum 0.937, weight decay 5e-4 scaled by
#   total_batch x accumulate / 64 (accumulate = max(round(64 / total), 1)),
#   on conv / linear weights only (not on BN weights, not on biases);
# - lr x one_cycle(1, lrf=0.2, epochs) (cosine) per epoch; warm-up over
#   max(3 epochs, 1000 iterations): bias lr 0.1 -> lr, other lrs 0 -> lr,
#   momentum 0.8 -> 0.937;
# - ModelEMA (decay 0.9999 x (1 - exp(-updates / 2000))), after each step;
# - AMP on a GPU, fp32 on a CPU; no gradient clipping; no BN-statistics sync.
# See docs/onestage_training.md, "Optimiser, schedule, EMA and AMP".
_base_ = ['../default_runtime.py']

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(
    type='YOLOv5OptimWrapper',  # AmpOptimWrapper on a GPU, fp32 otherwise
    constructor='YOLOv5OptimWrapperConstructor',
    optimizer=dict(
        type='SGD', lr=0.01, momentum=0.937, weight_decay=5e-4,
        nesterov=True),
    # images per GPU (the train dataloader's batch_size; the hook checks it)
    # x the number of GPUs = the total batch that scales the weight decay
    paramwise_cfg=dict(batch_size_per_gpu=16, nominal_batch_size=64))

# YOLOv5ScheduleHook sets lr and momentum; no mmengine schedulers
param_scheduler = []

# YOLOv5 does not scale the lr with the batch (weight decay / accumulation
# instead, above); keep --auto-scale-lr off
auto_scale_lr = dict(enable=False, base_batch_size=64)

custom_hooks = [
    dict(
        type='YOLOv5ScheduleHook',
        lrf=0.2,
        schedule='cosine',  # 'linear': the original's --linear-lr
        warmup_epochs=3.0,
        min_warmup_iters=1000,
        warmup_bias_lr=0.1,
        warmup_momentum=0.8),
    dict(
        type='YOLOv5EMAHook',
        ema_type='YOLOv5ModelEMA',
        decay=0.9999,
        tau=2000,
        update_buffers=True,
        strict_load=False,
        priority=49),
]
