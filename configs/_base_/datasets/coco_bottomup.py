# COCO-2017 person keypoints, bottom-up (one sample per image), at the usual
# layout:
#   data/coco/annotations/person_keypoints_{train,val}2017.json
#   data/coco/{train,val}2017/*.jpg
# Pipelines are set by the model config (they depend on its input size).
# The metric ranks persons by the detector's box score and keeps every
# prediction (the head already applied NMS), as for mmpose's YOLOX-Pose.

# The keypoint set, read by the model configs (configs/README.md, "Any
# keypoint set"): mmpose's metainfo file (names, flip pairs, sigmas) and K.
dataset_metainfo_file = 'configs/_base_/datasets/coco.py'
num_keypoints = 17
# bottom-up AE grouping order (most reliable keypoints first): the
# HigherHRNet authors' COCO order
bottomup_grouping_order = [
    0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16
]
dataset_type = 'ValidatedCocoDataset'
data_mode = 'bottomup'
data_root = 'data/coco/'

train_dataloader = dict(
    batch_size=16,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        filter_cfg=dict(filter_empty_gt=False, min_size=32),
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
    ))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    pin_memory=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        ann_file='annotations/person_keypoints_val2017.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
    ))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json',
    score_mode='bbox',
    nms_mode='none')
test_evaluator = val_evaluator
