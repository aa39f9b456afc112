# A short schedule for the shipped 4-image set: one iteration per epoch
# (12 persons, batch 12), constant lr after a short warm-up, no decay.
_base_ = ['../default_runtime.py']

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=300)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))

param_scheduler = [
    dict(type='LinearLR', begin=0, end=20, start_factor=0.01, by_epoch=False),
]

auto_scale_lr = dict(base_batch_size=12)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=100, save_best=None,
                    max_keep_ckpts=2))
log_processor = dict(window_size=10)
