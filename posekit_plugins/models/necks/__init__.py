from .yolov5_pan import YOLOv5PAN

__all__ = ['YOLOv5PAN']
