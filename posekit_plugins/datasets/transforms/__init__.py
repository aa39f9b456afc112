from .higherhrnet_resize import HigherHRNetResizeAlign
from .ignore_mask import BottomupGetIgnoreMask
from .letterbox import YOLOv5Letterbox
from .yolov5_flip import YOLOv5RandomFlip
from .yolov5_hsv import YOLOv5HSVRandomAug
from .yolov5_mosaic import YOLOv5Mosaic
from .yolov5_random_perspective import YOLOv5RandomPerspective, box_candidates

__all__ = [
    'BottomupGetIgnoreMask', 'YOLOv5Letterbox', 'YOLOv5Mosaic',
    'YOLOv5RandomPerspective', 'YOLOv5HSVRandomAug', 'YOLOv5RandomFlip',
    'box_candidates',
    'HigherHRNetResizeAlign',
]
