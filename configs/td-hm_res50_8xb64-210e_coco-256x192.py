# SimpleBaseline ResNet-50, 256x192, mmpose's standard (MSRA) heatmap codec.
# The reference for the DARK and SWAHR variants, which inherit this file.
_base_ = [
    './_base_/schedules/adam-210e.py',
    './_base_/datasets/coco_topdown.py',
    './_base_/models/td-hm_resnet.py',
]

codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
# K from the dataset base (configs/README.md, "Any keypoint set")
model = dict(head=dict(out_channels=_base_.num_keypoints, decoder=codec))

train_aug = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
]
train_pipeline = [
    *train_aug,
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
