# Demo / test model: a small YOLO-Pose (the original YOLOv5-P6 architecture
# at 1/8 width, P3-P6 heads, a plain 1x1 keypoint conv and the clean
# per-anchor channel layout for training from scratch) at 256 x 256, trained from scratch on the 4 shipped COCO images
# (batch 4: one iteration per epoch) and evaluated on the same images. No
# augmentation, no pretrained weights (nothing can be downloaded here), no
# EMA. To fit in a few hundred CPU iterations it departs from the paper's
# training recipe (not from the method): AdamW at 2e-2 instead of SGD,
# BN momentum 0.1 instead of 0.03, keypoint-loss gain 1.0 instead of 0.1.
# About 1-2 minutes on 2 idle CPU cores; reaches AP ~0.65 on these images.
_base_ = [
    './_base_/schedules/adam-300e-tiny.py',
    './_base_/datasets/coco-tiny_bottomup.py',
    './_base_/models/yolopose_yolov5-p6.py',
]

input_size = (256, 256)
deepen_factor = 0.33
widen_factor = 0.125
channels = [int(c * widen_factor) for c in (256, 512, 768, 1024)]
norm_cfg = dict(type='BN', momentum=0.1, eps=0.001)
model = dict(
    backbone=dict(
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        norm_cfg=norm_cfg),
    neck=dict(in_channels=channels, num_csp_blocks=1, norm_cfg=norm_cfg),
    head=dict(
        # K and the OKS sigmas from the dataset base (configs/README.md)
        num_keypoints=_base_.num_keypoints,
        in_channels=channels,
        extra_stacked_convs=0,
        layout='per_anchor',
        # this package's earlier loss (as measured), not the base's faithful
        loss_mode='posekit',
        loss_options=dict(_delete_=True),
        loss_bbox=dict(type='mmdet.CIoULoss'),
        loss_kpt=dict(
            _delete_=True,
            type='OKSKeypointLoss',
            metainfo=_base_.dataset_metainfo_file,
            mode='linear',
            reduction='mean',
            loss_weight=1.0)))

# lr 2e-2: AP 0.668 after the 300 iterations here (1e-2: 0.392; with the
# former YOLOX-PAFPN neck 1e-2 gave 0.873)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-2, weight_decay=0.0),
    clip_grad=dict(max_norm=10.0))

codec = dict(type='YOLOXPoseAnnotationProcessor', input_size=input_size)
train_pipeline = [
    dict(type='LoadImage'),
    # resize the long side to the input size, no random augmentation
    dict(
        type='BottomupRandomAffine',
        input_size=input_size,
        shift_prob=0,
        rotate_prob=0,
        scale_prob=0,
        shear_prob=0,
        scale_type='long',
        pad_val=(114, 114, 114),
        bbox_keep_corner=False,
        clip_border=True),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='YOLOv5Letterbox', input_size=input_size, pad_val=114),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                   'input_size', 'input_center', 'input_scale')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

auto_scale_lr = dict(base_batch_size=4)
randomness = dict(seed=0)
