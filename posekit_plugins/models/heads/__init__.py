from .ae_higherhrnet_swahr_head import AEHigherHRNetHead
from .ae_swahr_head import AESWAHRHead
from .kapao_head import KAPAOHead
from .swahr_head import SWAHRHead
from .yolo_anchor_head import YOLOAnchorHead
from .yolo_pose_head import YOLOPoseHead

__all__ = ['YOLOAnchorHead', 'YOLOPoseHead', 'SWAHRHead', 'AESWAHRHead',
           'KAPAOHead', 'AEHigherHRNetHead']
