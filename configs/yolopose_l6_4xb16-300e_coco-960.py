# YOLO-Pose l6 at 960 (paper: 69.4 AP, 90.2 AP50 on COCO val2017, no TTA; released
# checkpoint Yolov5l6_pose_960): the s6 960 config with YOLOv5l6's depth / width
# multiples (1.0 / 1.0). The released l6 models use the six-conv
# depthwise keypoint branch too ("kpts_head_6x_dwconv_3x3"), although the
# original repo's yolov5l6_kpts.yaml omits dw_conv_kpt.
_base_ = ['./yolopose_s6_4xb16-300e_coco-960.py']

deepen_factor = 1.0
widen_factor = 1.0
channels = [int(c * widen_factor) for c in (256, 512, 768, 1024)]
model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(in_channels=channels,
              num_csp_blocks=max(round(3 * deepen_factor), 1)),
    head=dict(in_channels=channels))
