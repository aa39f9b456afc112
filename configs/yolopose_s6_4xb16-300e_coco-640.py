# YOLO-Pose s6 at 640 (paper: 57.5 AP on COCO val2017, no TTA; released
# checkpoint Yolov5s6_pose_640, convert it with
# tools/model_converters/yolopose2mmpose.py). The original architecture
# (_base_/models/yolopose_yolov5-p6.py); test input as the original's: the
# YOLOv5 letterbox to 640 x 640 (pad 114), RGB / 255. Training: YOLOv5's
# schedule (one-cycle cosine, warm-up, EMA, AMP on GPU), 4 GPUs x 16 images,
# the original's loss (faithful mode) and augmentation (YOLOv5 transforms);
# docs/onestage_training.md compares every hyper-parameter with the original.
_base_ = [
    './_base_/schedules/sgd-300e_yolov5.py',
    './_base_/datasets/coco_bottomup.py',
    './_base_/models/yolopose_yolov5-p6.py',
]

input_size = (640, 640)
codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)
# K and the OKS sigmas from the dataset base (configs/README.md)
model = dict(
    head=dict(
        num_keypoints=_base_.num_keypoints,
        loss_kpt=dict(metainfo=_base_.dataset_metainfo_file)))

# YOLOv5's training augmentation as the original's (edgeai-yolov5
# utils/datasets.py with hyp.scratch.yaml; equal to its functions given the
# same draws, see docs/onestage_training.md): mosaic cropped around its
# centre, translate 0.1, scale 0.5 (0.5-1.5), HSV gains, flip 0.5; the
# perspective transform's box filter is the only annotation filter
train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='YOLOv5Mosaic',
        img_scale=input_size,
        pad_val=114,
        pre_transform=[dict(type='LoadImage')]),
    dict(
        type='YOLOv5RandomPerspective',
        input_size=input_size,
        degrees=0.0,
        translate=0.1,
        scale=0.5,
        shear=0.0,
        perspective=0.0,
        pad_val=114,
        keypoint_rule='yolopose'),
    dict(type='YOLOv5HSVRandomAug', hgain=0.015, sgain=0.7, vgain=0.4),
    dict(type='YOLOv5RandomFlip', prob=0.5),
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
# what YOLO-Pose's labels hold, as its paper describes them (its label files
# are a download, not in its repository): images with a person with
# keypoints, those persons only, no crowd
train_dataloader = dict(
    dataset=dict(
        filter_cfg=dict(
            _delete_=True,
            keep_empty_images=False,
            keep_crowd=False,
            min_keypoints=1),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
