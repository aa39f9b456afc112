# YOLO-Pose "6" model as the original (edgeai-yolov5, yolov5s6_kpts.yaml):
# YOLOv5's P6 CSP-Darknet (mmdet's CSPDarknet: Focus stem, C3 stages,
# SPP(3, 5, 7)), YOLOv5's PAN neck with per-level widths (YOLOv5PAN), and
# the original Detect (YOLOPoseHead with the six-depthwise-conv keypoint
# branch and the original channel layout, so released weights load:
# tools/model_converters/yolopose2mmpose.py). SiLU, BN eps 1e-3 / momentum
# 0.03, strides 8-64, 3 anchors per cell. Input as the original: RGB / 255.
# Widths/depths here are the "s" model; m6/l6 configs override them.
deepen_factor = 0.33
widen_factor = 0.5
channels = [int(c * widen_factor) for c in (256, 512, 768, 1024)]
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
act_cfg = dict(type='SiLU')

model = dict(
    type='BottomupPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        pad_size_divisor=64,
        pad_value=114 / 255,  # after normalisation
        mean=[0, 0, 0],
        std=[255, 255, 255],
        bgr_to_rgb=True),
    backbone=dict(
        type='CSPDarknet',
        arch='P6',
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        out_indices=(2, 3, 4, 5),
        spp_kernal_sizes=(3, 5, 7),
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    neck=dict(
        type='YOLOv5PAN',
        in_channels=channels,
        num_csp_blocks=max(round(3 * deepen_factor), 1),
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    head=dict(
        type='YOLOPoseHead',
        # COCO's; top configs set the dataset base's K and metainfo file
        num_keypoints=17,
        num_classes=1,
        in_channels=channels,
        featmap_strides=(8, 16, 32, 64),
        # anchors=None: YOLOv5's P6 anchors
        anchor_ratio_thr=4.0,
        neighbour_thr=0.5,
        extra_stacked_convs=6,
        layout='original',
        # the original ComputeLoss + train.py (docs/onestage_training.md);
        # loss weights are hyp.scratch.yaml's gains, rescaled by the head
        loss_mode='faithful',
        # the original's `loss *= world_size` is applied once, by the
        # schedule's YOLOv5OptimWrapper (loss_scale_by_world_size=True); with
        # a plain OptimWrapper set world_size_scaling=True instead
        loss_options=dict(world_size_scaling=False),
        loss_bbox=dict(
            type='YOLOv5CIoULoss', reduction='mean', loss_weight=0.05),
        loss_obj=dict(type='BCELoss', reduction='mean', loss_weight=1.0),
        loss_cls=dict(type='BCELoss', reduction='mean', loss_weight=0.5),
        loss_kpt=dict(
            type='YOLOPoseOKSLoss',
            metainfo='configs/_base_/datasets/coco.py',
            exponent='original',
            average='keypoint',
            loss_weight=0.1),
        # the original's keypoint-confidence BCE takes the class gain
        loss_kpt_vis=dict(type='BCELoss', reduction='mean', loss_weight=0.5),
        yolov5_loss_scaling=True,
    ),
    # the original's evaluation (README: test.py --conf 0.001 --iou 0.65)
    test_cfg=dict(score_thr=0.001, nms_thr=0.65, max_per_img=300,
                  clip_keypoints=True))
