from .ignore_mask import BottomupGetIgnoreMask
from .letterbox import YOLOv5Letterbox

__all__ = ['BottomupGetIgnoreMask', 'YOLOv5Letterbox']
