"""mmpose's CrowdPose dataset with this package's file checks."""
from mmpose.datasets import CrowdPoseDataset
from mmpose.registry import DATASETS

from .validated_coco_dataset import AnnotationCheckMixin, BottomupFilterMixin


@DATASETS.register_module()
class ValidatedCrowdPoseDataset(AnnotationCheckMixin, BottomupFilterMixin,
                                CrowdPoseDataset):
    """mmpose's :class:`CrowdPoseDataset` (14 keypoints, the metainfo
    ``configs/_base_/datasets/crowdpose.py``, each image's ``crowdIndex``
    kept for the AP(E/M/H) of ``CocoMetric(iou_type='keypoints_crowd')``)
    with the checks of :class:`AnnotationCheckMixin` and the bottom-up
    ``filter_cfg`` keys of :class:`BottomupFilterMixin`.

    CrowdPose: `arXiv 1812.00324 <https://arxiv.org/abs/1812.00324>`_.
    """
