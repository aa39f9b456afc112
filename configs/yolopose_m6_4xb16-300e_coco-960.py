# YOLO-Pose m6 at 960 (paper: 67.4 AP on COCO val2017, no TTA): YOLOv5m6
# widths/depths (0.75 / 0.67); backbone initialised from YOLOX-m.
_base_ = ['./yolopose_s6_4xb16-300e_coco-960.py']

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
