# COCO-2017 person keypoints, top-down, at the usual layout:
#   data/coco/annotations/person_keypoints_{train,val}2017.json
#   data/coco/{train,val}2017/*.jpg
#   data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json
# Pipelines are set by the model config (they depend on its codec).

# The keypoint set, read by the model configs (configs/README.md, "Any
# keypoint set"): mmpose's metainfo file (names, flip pairs, sigmas) and K.
dataset_metainfo_file = 'configs/_base_/datasets/coco.py'
num_keypoints = 17
dataset_type = 'ValidatedCocoDataset'
data_mode = 'topdown'
data_root = 'data/coco/'

train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        ann_file='annotations/person_keypoints_val2017.json',
        bbox_file=data_root + 'person_detection_results/'
        'COCO_val2017_detections_AP_H_56_person.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
    ))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
