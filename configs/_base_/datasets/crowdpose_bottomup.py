# CrowdPose (arXiv 1812.00324), bottom-up (one sample per image), in mmpose's
# layout (annotations converted by mmpose, images as released):
#   data/crowdpose/annotations/mmpose_crowdpose_{trainval,test}.json
#   data/crowdpose/images/*.jpg
# Pipelines are set by the model config; loaders as coco_bottomup.py.

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
data_root = 'data/crowdpose/'

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
        ann_file='annotations/mmpose_crowdpose_trainval.json',
        data_prefix=dict(img='images/'),
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
        ann_file='annotations/mmpose_crowdpose_test.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
    ))
test_dataloader = val_dataloader

# mmpose's CrowdPose metric: OKS with box areas (use_area=False), AP and AR
# plus AP(E), AP(M), AP(H) by the images' crowd index (iou_type
# 'keypoints_crowd'), logged as crowdpose/AP etc.
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/mmpose_crowdpose_test.json',
    use_area=False,
    iou_type='keypoints_crowd',
    prefix='crowdpose',
    score_mode='bbox',
    nms_mode='none')
test_evaluator = val_evaluator
