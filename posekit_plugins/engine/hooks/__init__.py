from .keypoint_set_check_hook import KeypointSetCheckHook, head_num_keypoints
from .yolov5_ema_hook import YOLOv5EMAHook, YOLOv5ModelEMA
from .yolov5_param_scheduler_hook import (
                                          YOLOv5ScheduleHook,
                                          linear_lambda,
                                          one_cycle_lambda,
)

__all__ = [
    'KeypointSetCheckHook', 'head_num_keypoints',
    'YOLOv5EMAHook', 'YOLOv5ModelEMA', 'YOLOv5ScheduleHook', 'linear_lambda',
    'one_cycle_lambda'
]
