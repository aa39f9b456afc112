# KAPAO-M at 1280 (paper: 68.5 AP on COCO val2017, no TTA): YOLOv5m6
# widths/depths (0.75 / 0.67), backbone initialised from YOLOX-m as
# yolopose_m6; batch 4 x 18 = the paper's 72.
_base_ = ['./kapao_s6_4xb32-500e_coco-1280.py']

deepen_factor = 0.67
widen_factor = 0.75
model = dict(
    backbone=dict(
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmpose/v1/'
            'pretrained_models/yolox_m_8x8_300e_coco_20230829.pth')),
    neck=dict(in_channels=[192, 384, 576, 768], out_channels=192,
              num_csp_blocks=2),
    head=dict(in_channels=192))
train_dataloader = dict(batch_size=18)
