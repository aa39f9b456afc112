# HigherHRNet-W48 (640x640) on CrowdPose: twin of
# ae_higherhrnet-w48_8xb24-300e_coco-640x640.py, the same text but for the
# `_base_` line (its parent's CrowdPose twin).
_base_ = ['./ae_higherhrnet-w32_8xb24-300e_crowdpose-512x512.py']

codec = dict(
    _base_.codec, input_size=(640, 640), heatmap_size=(160, 160))

model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384))),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w48-8ef0771d.pth')),
    head=dict(
        in_channels=48,
        deconv_out_channels=(48, ),
        decoder=codec,
        parser=dict(detection_threshold=0.1)))

# the W32 pipelines with only the size changed (lists do not merge)
train_pipeline = [
    dict(t, **{k: v for k, v in dict(input_size=codec['input_size'],
                                      encoder=codec).items() if k in t})
    for t in _base_.train_pipeline
]
val_pipeline = [
    dict(t, input_size=codec['input_size'][0])
    if t['type'] == 'HigherHRNetResizeAlign' else t
    for t in _base_.val_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
