# SimpleBaseline ResNet-50 at 128x96 (32x24 heatmaps), the resolution where
# DARK gains most. sigma 1 as in the DARK paper's 128x96 setting, so that this
# file and its DARK twin differ only in the codec.
_base_ = ['./td-hm_res50_8xb64-210e_coco-256x192.py']

codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1)
model = dict(head=dict(decoder=codec))

train_aug = [
    *_base_.train_aug[:-1],
    dict(type='TopdownAffine', input_size=codec['input_size']),
]
train_pipeline = [
    *train_aug,
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    *_base_.val_pipeline[:-2],
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
