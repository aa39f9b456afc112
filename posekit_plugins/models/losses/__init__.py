from .keypoint_distance_loss import KeypointDistanceLoss
from .oks_keypoint_loss import OKSKeypointLoss
from .swahr_loss import SWAHRLoss

__all__ = ['KeypointDistanceLoss', 'OKSKeypointLoss', 'SWAHRLoss']
