# mmpose's own YOLOX-Pose (anchor-free, SimOTA, OKS loss; its
# `yoloxpose_s_8xb32-300e_coco-640.py` model) scaled to the same CSPDarknet
# size as `yolopose_tiny_1xb4-300e_coco-tiny-256.py`, trained with exactly
# that config's data, pipeline and schedule, so that the one-stage tiny
# comparison differs only in the head. No batch augmentation, no pretrained
# weights, no EMA / mode-switch hooks (nothing to switch: no mosaic here).
# optim_wrapper, lr and BN momentum are the yolopose_tiny ones.
_base_ = ['./yolopose_tiny_1xb4-300e_coco-tiny-256.py']

deepen_factor = 0.33
widen_factor = 0.125
norm_cfg = dict(type='BN', momentum=0.1, eps=0.001)
model = dict(
    _delete_=True,
    type='BottomupPoseEstimator',
    init_cfg=dict(
        type='Kaiming', layer='Conv2d', a=2.23606797749979,
        distribution='uniform', mode='fan_in', nonlinearity='leaky_relu'),
    data_preprocessor=dict(
        type='PoseDataPreprocessor', pad_size_divisor=32, mean=[0, 0, 0],
        std=[1, 1, 1]),
    backbone=dict(
        type='CSPDarknet', deepen_factor=deepen_factor,
        widen_factor=widen_factor, out_indices=(2, 3, 4),
        spp_kernal_sizes=(5, 9, 13), norm_cfg=norm_cfg,
        act_cfg=dict(type='Swish')),
    neck=dict(
        type='YOLOXPAFPN', in_channels=[32, 64, 128], out_channels=32,
        num_csp_blocks=1, use_depthwise=False,
        upsample_cfg=dict(scale_factor=2, mode='nearest'), norm_cfg=norm_cfg,
        act_cfg=dict(type='Swish')),
    head=dict(
        type='YOLOXPoseHead',
        num_keypoints=_base_.num_keypoints,
        featmap_strides=(8, 16, 32),
        head_module_cfg=dict(
            num_classes=1, in_channels=256, feat_channels=256,
            widen_factor=widen_factor, stacked_convs=2, norm_cfg=norm_cfg,
            act_cfg=dict(type='Swish')),
        prior_generator=dict(
            type='MlvlPointGenerator', offset=0, strides=[8, 16, 32]),
        assigner=dict(type='SimOTAAssigner', dynamic_k_indicator='oks'),
        overlaps_power=0.5,
        loss_cls=dict(type='BCELoss', reduction='sum', loss_weight=1.0),
        loss_bbox=dict(
            type='IoULoss', mode='square', eps=1e-16, reduction='sum',
            loss_weight=5.0),
        loss_obj=dict(
            type='BCELoss', use_target_weight=True, reduction='sum',
            loss_weight=1.0),
        loss_oks=dict(
            type='OKSLoss', reduction='none',
            metainfo=_base_.dataset_metainfo_file,
            norm_target_weight=True, loss_weight=30.0),
        loss_vis=dict(
            type='BCELoss', use_target_weight=True, reduction='mean',
            loss_weight=1.0),
        loss_bbox_aux=dict(type='L1Loss', reduction='sum', loss_weight=1.0)),
    test_cfg=dict(score_thr=0.01, nms_thr=0.65))
