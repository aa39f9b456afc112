"""Training machinery: YOLOv5's optimizer, schedule, EMA and AMP."""
from .hooks import (
                    YOLOv5EMAHook,
                    YOLOv5ModelEMA,
                    YOLOv5ScheduleHook,
                    linear_lambda,
                    one_cycle_lambda,
)
from .optim_wrappers import (
                    YOLOv5OptimWrapper,
                    YOLOv5OptimWrapperConstructor,
                    yolov5_accumulate,
                    yolov5_param_groups,
                    yolov5_weight_decay,
)

__all__ = [
    'YOLOv5EMAHook', 'YOLOv5ModelEMA', 'YOLOv5ScheduleHook', 'linear_lambda',
    'one_cycle_lambda', 'YOLOv5OptimWrapper', 'YOLOv5OptimWrapperConstructor',
    'yolov5_accumulate', 'yolov5_param_groups', 'yolov5_weight_decay'
]
