# Demo / test model: a ResNet-18 SimpleBaseline at 128x96 trained from scratch
# on the 4 shipped COCO images (12 persons, one iteration per epoch) and
# evaluated on the same images. No augmentation, no pretrained weights
# (nothing can be downloaded here). About 2-3 minutes on 2 CPU cores.
_base_ = [
    './_base_/schedules/adam-300e-tiny.py',
    './_base_/datasets/coco-tiny_topdown.py',
    './_base_/models/td-hm_resnet.py',
]

codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1)
model = dict(
    backbone=dict(depth=18, init_cfg=None),
    # K from the dataset base (configs/README.md, "Any keypoint set")
    head=dict(
        in_channels=512, out_channels=_base_.num_keypoints, decoder=codec))

train_aug = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
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

randomness = dict(seed=0)
