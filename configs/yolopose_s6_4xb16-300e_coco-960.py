# YOLO-Pose s6 at 960 (paper: 63.7 AP on COCO val2017, no TTA): the 640
# config with the input size changed.
_base_ = ['./yolopose_s6_4xb16-300e_coco-640.py']

input_size = (960, 960)
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)

train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='Mosaic',
        img_scale=input_size,
        pad_val=114.0,
        pre_transform=[dict(type='LoadImage')]),
    dict(
        type='BottomupRandomAffine',
        input_size=input_size,
        shift_factor=0.1,
        rotate_factor=0,
        rotate_prob=0,
        shear_prob=0,
        scale_factor=(0.5, 1.5),
        pad_val=114,
        distribution='uniform',
        transform_mode='perspective',
        bbox_keep_corner=False,
        clip_border=True),
    dict(type='YOLOXHSVRandomAug'),
    dict(type='RandomFlip'),
    dict(type='FilterAnnotations', by_kpt=True, by_box=True, keep_empty=False),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupResize',
        input_size=input_size,
        size_factor=64,
        pad_val=(114, 114, 114)),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                   'input_size', 'input_center', 'input_scale')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
