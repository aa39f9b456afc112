# YOLO-Pose s6 at 640 (paper: 57.5 AP on COCO val2017, no TTA; released
# checkpoint Yolov5s6_pose_640, convert it with
# tools/model_converters/yolopose2mmpose.py). The original architecture
# (_base_/models/yolopose_yolov5-p6.py); test input as the original's: the
# YOLOv5 letterbox to 640 x 640 (pad 114), RGB / 255. Training: YOLOv5's
# schedule, 4 GPUs x 16 images; mosaic, random affine, HSV and flip
# augmentation from mmpose's bottom-up transforms.
_base_ = [
    './_base_/schedules/sgd-300e_yolov5.py',
    './_base_/datasets/coco_bottomup.py',
    './_base_/models/yolopose_yolov5-p6.py',
]

input_size = (640, 640)
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
    # test.py maps predictions back with the letterbox's own ratio and pad
    dict(type='YOLOv5Letterbox', input_size=input_size, pad_val=114,
         ratio_pad='letterbox'),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                   'input_size', 'input_center', 'input_scale')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
