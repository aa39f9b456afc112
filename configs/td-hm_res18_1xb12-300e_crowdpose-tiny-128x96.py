# The tiny ResNet-18 SimpleBaseline (128x96, from scratch, no augmentation)
# on the CrowdPose-format fixture data/crowdpose_tiny (14 keypoints, head top
# and neck derived; see its README). Its text is that of
# td-hm_res18_1xb12-300e_coco-tiny-128x96.py but for the dataset `_base_`
# line: K (14 heatmaps), the metainfo (flip pairs, sigmas), the data and the
# CrowdPose metric (AP, AP(E), AP(M), AP(H)) all come from that file.
_base_ = [
    './_base_/schedules/adam-300e-tiny.py',
    './_base_/datasets/crowdpose-tiny_topdown.py',
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
