from .transforms import BottomupGetIgnoreMask
from .validated_coco_dataset import (
    AnnotationCheckMixin,
    DatasetCheckError,
    ValidatedCocoDataset,
)

__all__ = [
    'BottomupGetIgnoreMask', 'AnnotationCheckMixin', 'DatasetCheckError',
    'ValidatedCocoDataset'
]
