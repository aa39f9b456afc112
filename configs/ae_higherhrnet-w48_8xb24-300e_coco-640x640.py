# Plain HigherHRNet-W48 (arXiv 1908.10357), 640x640, COCO: outputs at 160
# and 320, HRNet-W48 widths, deconv stage of 48 channels; otherwise as
# ae_higherhrnet-w32_8xb24-300e_coco-512x512 (mmpose's AE schedule); test
# detection threshold 0.1 (the W48 yaml's).
_base_ = ['./ae_higherhrnet-w32_8xb24-300e_coco-512x512.py']

codec = dict(
    _base_.codec, input_size=(640, 640), heatmap_size=(160, 160))

model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384))),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w48-8ef0771d.pth')),
    head=dict(
        in_channels=48,
        deconv_out_channels=(48, ),
        decoder=codec,
        parser=dict(detection_threshold=0.1)))

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
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
