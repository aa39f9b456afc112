# KAPAO-S at 1280 (paper: 63.0 AP on COCO val2017, no TTA): the 640 config
# with the input size, the batch (4 GPUs x 32 = the paper's 128) and the
# paper's 500 epochs changed. Augmentation stays the YOLO-Pose one (the
# paper's code used scale +-0.9). Fusion tolerance: the paper's code used
# 50 px of the original image; here 'original' mode reproduces it.
_base_ = ['./kapao_s6_4xb16-300e_coco-640.py']

# the paper's schedule: 500 epochs (YOLOv5's linear decay to 0.2 x lr)
max_epochs = 500
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.2, by_epoch=True,
         begin=3, end=max_epochs, convert_to_iter_based=True),
]

model = dict(test_cfg=dict(fusion_tol=50.0, fusion_tol_mode='original'))
input_size = (1280, 1280)
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
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
