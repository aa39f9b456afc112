# YOLO-Pose l6 at 960 (paper: 69.4 AP, 90.2 AP50 on COCO val2017, no TTA):
# YOLOv5l6 widths/depths (1.0 / 1.0); backbone initialised from YOLOX-l.
_base_ = ['./yolopose_s6_4xb16-300e_coco-960.py']

deepen_factor = 1.0
widen_factor = 1.0
model = dict(
    backbone=dict(
        deepen_factor=deepen_factor,
        widen_factor=widen_factor,
        init_cfg=dict(
            checkpoint='https://download.openmmlab.com/mmdetection/v2.0/'
            'yolox/yolox_l_8x8_300e_coco/yolox_l_8x8_300e_coco_'
            '20211126_140236-d3bd2b23.pth')),
    neck=dict(in_channels=[256, 512, 768, 1024], out_channels=256,
              num_csp_blocks=3),
    head=dict(in_channels=256))
