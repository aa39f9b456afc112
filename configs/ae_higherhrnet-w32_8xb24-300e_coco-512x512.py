# Plain HigherHRNet-W32 (arXiv 1908.10357), 512x512, COCO: the twin of
# ae_higherhrnet-w32_swahr-8xb24-300e_coco-512x512 without SWAHR (same
# model base, `with_swahr=False`, masked MSE heatmap loss), trained with
# mmpose's AE schedule (Adam 1.5e-3, steps at 200 / 260 of 300 epochs).
_base_ = [
    './_base_/default_runtime.py', './_base_/datasets/coco_bottomup.py',
    './_base_/models/ae_higherhrnet_hrnet-w32.py'
]

train_cfg = dict(by_epoch=True, max_epochs=300, val_interval=10)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1.5e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001,
         by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=300, milestones=[200, 260],
         gamma=0.1, by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=192)
default_hooks = dict(
    checkpoint=dict(save_best='auto', rule='greater', interval=50))

# K and the grouping order from the dataset base (configs/README.md)
codec = dict(
    _base_.codec, decode_keypoint_order=_base_.bottomup_grouping_order)
model = dict(
    head=dict(
        num_keypoints=_base_.num_keypoints,
        decoder=codec,
        parser=dict(joint_order=_base_.bottomup_grouping_order)))
train_pipeline = [
    dict(type='LoadImage'),
    # the authors' augmentation: uniform rotation (+-30 deg), scale
    # (0.75-1.5, short side) and shift (+-0.2 of the scaled short side)
    dict(
        type='BottomupRandomAffine',
        input_size=codec['input_size'],
        distribution='uniform'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='BottomupGetIgnoreMask'),
    dict(type='PackPoseInputs'),
]
# the original's test resize (resize_align_multi_scale at scale 1: short
# side to the input size, long side aligned to 64, its centre and scale)
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='HigherHRNetResizeAlign',
        input_size=codec['input_size'][0],
        size_divisor=64),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
                   'img_shape', 'input_size', 'input_center', 'input_scale',
                   'flip', 'flip_direction', 'flip_indices', 'raw_ann_info',
                   'skeleton_links'))
]
train_dataloader = dict(
    batch_size=24, num_workers=2, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
