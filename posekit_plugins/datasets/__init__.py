from .metainfo_checks import (
                         MetainfoCheckError,
                         check_pose_metainfo,
                         resolve_metainfo_file,
)
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
from .validated_crowdpose_dataset import ValidatedCrowdPoseDataset

__all__ = [
    'BottomupGetIgnoreMask', 'YOLOv5Letterbox', 'YOLOv5Mosaic',
    'YOLOv5RandomPerspective', 'YOLOv5HSVRandomAug', 'YOLOv5RandomFlip',
    'AnnotationCheckMixin', 'BottomupFilterMixin', 'DatasetCheckError',
    'ValidatedCocoDataset', 'ValidatedCrowdPoseDataset', 'MetainfoCheckError',
    'check_pose_metainfo', 'resolve_metainfo_file',
    'HigherHRNetResizeAlign',
]
