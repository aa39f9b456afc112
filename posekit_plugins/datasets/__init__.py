from .transforms import (
                         BottomupGetIgnoreMask,
                         HigherHRNetResizeAlign,
                         YOLOv5HSVRandomAug,
                         YOLOv5Letterbox,
                         YOLOv5Mosaic,
                         YOLOv5RandomFlip,
                         YOLOv5RandomPerspective,
)
from .validated_coco_dataset import (
                         AnnotationCheckMixin,
                         BottomupFilterMixin,
                         DatasetCheckError,
                         ValidatedCocoDataset,
)

__all__ = [
    'BottomupGetIgnoreMask', 'YOLOv5Letterbox', 'YOLOv5Mosaic',
    'YOLOv5RandomPerspective', 'YOLOv5HSVRandomAug', 'YOLOv5RandomFlip',
    'AnnotationCheckMixin', 'BottomupFilterMixin', 'DatasetCheckError',
    'ValidatedCocoDataset',
    'HigherHRNetResizeAlign',
]
