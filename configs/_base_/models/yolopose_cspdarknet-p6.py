# YOLO-Pose "6" model (P3-P6, strides 8/16/32/64, 3 anchors per cell):
# mmdet's CSP-Darknet with its P6 architecture (a fifth stage, 768 -> 1024
# channels), a 4-level PAFPN (mmpose's YOLOXPAFPN) and our YOLOPoseHead.
# Widths/depths here are the "s" model; m6/l6 configs override them.
# Input normalisation and backbone initialisation follow mmpose's YOLOX-Pose
# (0-255 BGR input, backbone from the YOLOX detector of the same size: its
# P5 stages load, the P6 stages 4-5 do not match and start from scratch).
deepen_factor = 0.33
widen_factor = 0.5
num_keypoints = 17
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
act_cfg = dict(type='Swish')

model = dict(
    type='BottomupPoseEstimator',
    init_cfg=dict(
        type='Kaiming',
        layer='Conv2d',
        a=2.23606797749979,
        distribution='uniform',
        mode='fan_in',
        nonlinearity='leaky_relu'),
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        pad_size_divisor=64,
        mean=[0, 0, 0],
        std=[1, 1, 1]),
    backbone=dict(
        type='CSPDarknet',
        arch='P6',
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        out_indices=(2, 3, 4, 5),
        spp_kernal_sizes=(5, 9, 13),
        norm_cfg=norm_cfg,
        act_cfg=act_cfg,
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmdetection/v2.0/'
            'yolox/yolox_s_8x8_300e_coco/yolox_s_8x8_300e_coco_'
            '20211121_095711-4592a793.pth',
            prefix='backbone.',
        )),
    neck=dict(
        type='YOLOXPAFPN',
        in_channels=[128, 256, 384, 512],
        out_channels=128,
        num_csp_blocks=1,
        use_depthwise=False,
        upsample_cfg=dict(scale_factor=2, mode='nearest'),
        norm_cfg=norm_cfg,
        act_cfg=act_cfg),
    head=dict(
        type='YOLOPoseHead',
        num_keypoints=num_keypoints,
        num_classes=1,
        in_channels=128,
        featmap_strides=(8, 16, 32, 64),
        # anchors=None: YOLOv5's P6 anchors
        anchor_ratio_thr=4.0,
        neighbour_thr=0.5,
        loss_bbox=dict(
            type='mmdet.CIoULoss', reduction='mean', loss_weight=0.05),
        loss_obj=dict(type='BCELoss', reduction='mean', loss_weight=1.0),
        loss_cls=dict(type='BCELoss', reduction='mean', loss_weight=0.5),
        loss_kpt=dict(
            type='OKSKeypointLoss',
            metainfo='configs/_base_/datasets/coco.py',
            mode='linear',
            reduction='mean',
            loss_weight=0.1),
        loss_kpt_vis=dict(type='BCELoss', reduction='mean', loss_weight=0.5),
        yolov5_loss_scaling=True,
    ),
    test_cfg=dict(score_thr=0.001, nms_thr=0.6, max_per_img=300))
