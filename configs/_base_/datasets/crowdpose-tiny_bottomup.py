# The CrowdPose-format fixture data/crowdpose_tiny (the 4 images of
# data/coco_tiny, 12 persons with keypoints; head top and neck derived, not
# annotated: see its README), bottom-up (one sample
# per image). Images are read from data/coco_tiny.
# Training and evaluating on the same images measures fitting, not
# generalisation. Paths are relative to this file (works from any directory
# and from the copy `mim` installs).

# The keypoint set, read by the model configs (configs/README.md, "Any
# keypoint set"): mmpose's CrowdPose metainfo file (14 keypoints: limbs, head
# top, neck; flip pairs; sigmas) and K.
dataset_metainfo_file = 'configs/_base_/datasets/crowdpose.py'
num_keypoints = 14
# bottom-up AE grouping order: the SWAHR/HigherHRNet authors' CrowdPose
# runs used their COCO order cut to the 14 keypoints (a permutation)
bottomup_grouping_order = [0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13]
dataset_type = 'ValidatedCrowdPoseDataset'
data_mode = 'bottomup'
data_root = '{{fileDirname}}/../../../data/crowdpose_tiny/'

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        ann_file='crowdpose_tiny.json',
        data_prefix=dict(img='../coco_tiny/'),
    ))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        ann_file='crowdpose_tiny.json',
        data_prefix=dict(img='../coco_tiny/'),
        test_mode=True,
    ))
test_dataloader = val_dataloader

# mmpose's CrowdPose metric: OKS with box areas (use_area=False), AP and AR
# plus AP(E), AP(M), AP(H) by the images' crowd index (iou_type
# 'keypoints_crowd'), logged as crowdpose/AP etc.
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'crowdpose_tiny.json',
    use_area=False,
    iou_type='keypoints_crowd',
    prefix='crowdpose',
    score_mode='bbox',
    nms_mode='none',
)
test_evaluator = val_evaluator
