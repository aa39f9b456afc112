# KAPAO-S at 640 on CrowdPose: 1 + 14 object classes (person + one per
# keypoint). Twin of kapao_s6_4xb16-300e_coco-640.py, the same text but for
# the `_base_` line (its parent's CrowdPose twin).
_base_ = ['./yolopose_s6_4xb16-300e_crowdpose-640.py']

model = dict(
    head=dict(
        _delete_=True,
        type='KAPAOHead',
        num_keypoints=_base_.num_keypoints,  # 1 + K classes
        in_channels=_base_.channels,
        featmap_strides=(8, 16, 32, 64),
        # anchors=None: YOLOv5's P6 anchors
        anchor_ratio_thr=4.0,
        neighbour_thr=0.5,
        kp_bbox=0.05,
        # the original ComputeLoss + train.py (docs/onestage_training.md)
        loss_mode='faithful',
        # `loss *= world_size`: by YOLOv5OptimWrapper (schedule), not twice
        loss_options=dict(world_size_scaling=False),
        loss_bbox=dict(
            type='YOLOv5CIoULoss', reduction='mean', loss_weight=0.05),
        loss_obj=dict(type='BCELoss', reduction='mean', loss_weight=0.7),
        loss_cls=dict(type='BCELoss', reduction='mean', loss_weight=0.3),
        # the original's mean Euclidean distance (grid units); for an OKS
        # loss instead: dict(type='OKSKeypointLoss',
        #     metainfo='configs/_base_/datasets/coco.py', loss_weight=...)
        loss_kpt=dict(
            type='KeypointDistanceLoss', reduction='mean', loss_weight=0.025),
        yolov5_loss_scaling=True,
    ),
    test_cfg=dict(
        _delete_=True,
        # pose objects
        score_thr=0.001,
        nms_thr=0.65,
        max_per_img=300,
        # keypoint objects (NMS per keypoint type)
        kpt_score_thr=0.2,
        kpt_nms_thr=0.25,
        kpt_max_per_img=300,
        # fusion (False: pose objects only, for ablation)
        fuse_keypoint_objects=True,
        fusion_person_thr=0.3,
        fusion_tol=50.0,
        fusion_tol_mode='input',  # or 'original' (the paper's), 'person'
        clip_keypoints=True,
    ))

# KAPAO's val.py maps predictions back with scale_coords' own gain and pad
# (YOLO-Pose's test.py uses the letterbox's)
val_pipeline = [
    dict(t, ratio_pad=None) if t['type'] == 'YOLOv5Letterbox' else t
    for t in _base_.val_pipeline
]
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader

# KAPAO's train.py steps the optimizer when ni - last_opt_step >= accumulate
# (YOLO-Pose's: ni % accumulate == 0; the same with accumulate 1)
optim_wrapper = dict(accumulate_rule='since_last_step')

# KAPAO's augmentation (its utils/datasets.py with hyp.kp-p6.yaml): the
# YOLO-Pose pipeline with scale 0.9 (0.1-1.9), and keypoints kept while
# inside the image; its data: every train2017 image (person-free ones as
# background), non-crowd persons with or without keypoints (box-only pose
# objects)
train_pipeline = [
    dict(t, scale=0.9, keypoint_rule='inside')
    if t['type'] == 'YOLOv5RandomPerspective' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(
    dataset=dict(
        filter_cfg=dict(
            _delete_=True,
            keep_empty_images=True,
            keep_crowd=False,
            min_keypoints=0),
        pipeline=train_pipeline))
