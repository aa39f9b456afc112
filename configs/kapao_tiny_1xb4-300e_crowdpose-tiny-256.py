# The tiny KAPAO on the CrowdPose-format fixture data/crowdpose_tiny (14 keypoints, head top
# and neck derived; see its README):
# 1 + 14 object classes (person + one per keypoint). Twin of
# kapao_tiny_1xb4-300e_coco-tiny-256.py, the same text but for the `_base_`
# line (its parent's CrowdPose twin).
_base_ = ['./yolopose_tiny_1xb4-300e_crowdpose-tiny-256.py']

# Width and BN momentum at which this tiny model was first measured; lr 8e-3
# with the original YOLOv5 PAN neck: AP 0.567 without / 0.615 with fusion
# after 250 iterations (4e-3: 0.595 / 0.535; 2e-3: 0.107 / 0.121). At the
# narrower setting of the YOLO-Pose tiny config fusion lowered the AP with
# the former neck: keypoint objects need more capacity than pose objects.
norm_cfg = dict(type='BN', momentum=0.03, eps=0.001)
optim_wrapper = dict(optimizer=dict(lr=8e-3))
channels = [int(c * 0.25) for c in (256, 512, 768, 1024)]
model = dict(
    backbone=dict(widen_factor=0.25, norm_cfg=norm_cfg),
    neck=dict(in_channels=channels, norm_cfg=norm_cfg),
    head=dict(
        _delete_=True,
        type='KAPAOHead',
        num_keypoints=_base_.num_keypoints,
        in_channels=channels,
        featmap_strides=(8, 16, 32, 64),
        kp_bbox=0.05,
        loss_bbox=dict(
            type='mmdet.CIoULoss', reduction='mean', loss_weight=0.05),
        loss_obj=dict(type='BCELoss', reduction='mean', loss_weight=0.7),
        loss_cls=dict(type='BCELoss', reduction='mean', loss_weight=0.3),
        loss_kpt=dict(
            type='KeypointDistanceLoss', reduction='mean', loss_weight=0.025),
        yolov5_loss_scaling=True,
    ),
    test_cfg=dict(
        _delete_=True,
        score_thr=0.001,
        nms_thr=0.65,
        max_per_img=300,
        kpt_score_thr=0.2,
        kpt_nms_thr=0.25,
        kpt_max_per_img=300,
        fuse_keypoint_objects=True,
        fusion_person_thr=0.3,
        # 50 px at 640 is ~20 px at this input size
        fusion_tol=20.0,
        fusion_tol_mode='input',
    ))
