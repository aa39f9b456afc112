# Plain HigherHRNet made small enough to train on 2 CPU cores: a slim
# HRNet (W32 widths, one module and one block per branch, from scratch),
# one BasicBlock after the deconv, 256x256 input, outputs at 64 and 128
# (sigma 1, DARK kernel 3), trained and evaluated on the 4 images of
# data/coco_tiny with no augmentation (the affine only fits each image into
# the input, as BottomupResize(fit) does at test time). Twin of
# ae_higherhrnet-tiny_swahr-1xb4-300e_coco-tiny-256x256 (SWAHR switch and
# loss only). The model is the W32 config's (_base_/models/
# ae_higherhrnet_hrnet-w32.py) made slim here; the data come from the
# dataset base, so the CrowdPose twin differs only in that line.
_base_ = [
    './_base_/default_runtime.py',
    './_base_/datasets/coco-tiny_bottomup.py',
    './_base_/models/ae_higherhrnet_hrnet-w32.py',
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=300)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=20, start_factor=0.01, by_epoch=False),
]
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=100, save_best=None,
                    max_keep_ckpts=2))
log_processor = dict(window_size=10)
randomness = dict(seed=0)

codec = dict(
    _base_.codec,
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=1,
    decode_blur_kernel_size=3,
    # the dataset base's order
    decode_keypoint_order=_base_.bottomup_grouping_order)

model = dict(
    backbone=dict(
        extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(32, )),
            stage2=dict(num_modules=1, num_blocks=(1, 1)),
            stage3=dict(num_modules=1, num_blocks=(1, 1, 1)),
            stage4=dict(num_modules=1, num_blocks=(1, 1, 1, 1))),
        init_cfg=None),
    # K and the grouping order from the dataset base (configs/README.md)
    head=dict(
        num_keypoints=_base_.num_keypoints,
        num_basic_blocks=1,
        decoder=codec,
        parser=dict(joint_order=_base_.bottomup_grouping_order)),
    test_cfg=dict(flip_test=False))

train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size=codec['input_size'],
        shift_prob=0,
        scale_prob=0,
        rotate_prob=0,
        scale_type='long'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='BottomupGetIgnoreMask'),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupResize',
        input_size=codec['input_size'],
        size_factor=32,
        resize_mode='fit'),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
                   'img_shape', 'input_size', 'input_center', 'input_scale',
                   'flip', 'flip_direction', 'flip_indices', 'raw_ann_info',
                   'skeleton_links'))
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
