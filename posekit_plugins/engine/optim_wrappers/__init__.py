from .yolov5_optim_wrapper import YOLOv5OptimWrapper
from .yolov5_optim_wrapper_constructor import (
                                               YOLOv5OptimWrapperConstructor,
                                               yolov5_accumulate,
                                               yolov5_param_groups,
                                               yolov5_weight_decay,
)

__all__ = [
    'YOLOv5OptimWrapper', 'YOLOv5OptimWrapperConstructor',
    'yolov5_accumulate', 'yolov5_param_groups', 'yolov5_weight_decay'
]
