from .yolov5_assigner import LevelAssignment, YOLOv5Assigner

__all__ = ['LevelAssignment', 'YOLOv5Assigner']
