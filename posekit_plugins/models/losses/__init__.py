from .higherhrnet_ae_loss import HigherHRNetAELoss
from .keypoint_distance_loss import KeypointDistanceLoss
from .oks_keypoint_loss import OKSKeypointLoss
from .swahr_loss import SWAHRLoss
from .yolov5_pose_losses import YOLOPoseOKSLoss, YOLOv5CIoULoss, yolov5_ciou

__all__ = [
    'HigherHRNetAELoss',
    'KeypointDistanceLoss', 'OKSKeypointLoss', 'SWAHRLoss', 'YOLOPoseOKSLoss',
    'YOLOv5CIoULoss', 'yolov5_ciou'
]
