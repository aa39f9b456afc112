from .validated_coco_dataset import (AnnotationCheckMixin, DatasetCheckError,
                                     ValidatedCocoDataset)

__all__ = ['AnnotationCheckMixin', 'DatasetCheckError', 'ValidatedCocoDataset']
