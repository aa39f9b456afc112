# YOLO-Pose m6 at 960 (paper: 67.4 AP, 89.1 AP50 on COCO val2017, no TTA; released
# checkpoint Yolov5m6_pose_960): the s6 960 config with YOLOv5m6's depth / width
# multiples (0.67 / 0.75). The released m6 models use the six-conv
# depthwise keypoint branch too ("kpts_head_6x_dwconv_3x3"), although the
# original repo's yolov5m6_kpts.yaml omits dw_conv_kpt.
_base_ = ['./yolopose_s6_4xb16-300e_coco-960.py']

deepen_factor = 0.67
widen_factor = 0.75
channels = [int(c * widen_factor) for c in (256, 512, 768, 1024)]
model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(in_channels=channels,
              num_csp_blocks=max(round(3 * deepen_factor), 1)),
    head=dict(in_channels=channels))
