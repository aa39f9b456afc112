"""COCO-style datasets that check their files before any training starts."""
import os.path as osp
from typing import List, Optional

from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS


class DatasetCheckError(ValueError):
    """A dataset's files do not match its config or its metainfo."""


class AnnotationCheckMixin:
    """Checks for :class:`BaseCocoStyleDataset` subclasses.

    mmpose reads a missing file with a bare ``AssertionError``, reshapes
    keypoints of any length without comparing them to the metainfo, and only
    notices a missing image when the data loader reaches it, mid-training.
    This mixin turns each into one error that names the file and the fix,
    raised while the dataset is built (before the first iteration):

    - ``data_root``, ``ann_file`` or ``bbox_file`` missing;
    - an annotation whose ``keypoints`` do not hold ``3 * K`` numbers, with K
      from the dataset metainfo;
    - images listed in the annotation file but missing on disk.
    """

    #: at most this many missing images are named in the error message
    max_listed: int = 5

    def load_data_list(self) -> List[dict]:
        self._check_paths()
        data_list = super().load_data_list()
        self._check_images(data_list)
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> Optional[dict]:
        ann = raw_data_info['raw_ann_info']
        num_keypoints = self.metainfo['num_keypoints']
        if 'keypoints' in ann and len(ann['keypoints']) != 3 * num_keypoints:
            found = len(ann['keypoints'])
            raise DatasetCheckError(
                f'{self.ann_file}: annotation id {ann.get("id")} (image '
                f'{ann.get("image_id")}) has {found} keypoint values '
                f'({found / 3:g} keypoints), but the dataset metainfo '
                f'"{self.metainfo.get("dataset_name")}" defines '
                f'{num_keypoints} keypoints (3 values each). Fix: use a '
                'dataset class or `metainfo=dict(from_file=...)` whose '
                'keypoint list matches this annotation file, and a head '
                'with that many output channels.')
        return super().parse_data_info(raw_data_info)

    def _check_paths(self) -> None:
        data_root = self.data_root
        if data_root and not osp.isdir(data_root):
            raise DatasetCheckError(
                f'data_root "{data_root}" does not exist (cwd: '
                f'{osp.abspath(".")}). Fix: put the dataset there (for COCO: '
                'annotations/, train2017/, val2017/, see README "Training on '
                'full COCO"), symlink it, or set the config\'s data_root, e.g. '
                '--cfg-options train_dataloader.dataset.data_root=/path/ '
                'val_dataloader.dataset.data_root=/path/')
        if not osp.isfile(self.ann_file):
            raise DatasetCheckError(
                f'annotation file "{self.ann_file}" does not exist. Fix: '
                'check `ann_file` (relative to data_root) in the config, or '
                'download the annotations into that folder.')
        if self.bbox_file and not osp.isfile(self.bbox_file):
            raise DatasetCheckError(
                f'person detection file "{self.bbox_file}" does not exist. '
                'Fix: download it, or set `bbox_file=None` in the config to '
                'evaluate with ground-truth boxes.')

    def _check_images(self, data_list: List[dict]) -> None:
        paths = sorted({d['img_path'] for d in data_list if 'img_path' in d})
        missing = [p for p in paths if not osp.isfile(p)]
        if missing:
            listed = ', '.join(missing[:self.max_listed])
            more = len(missing) - self.max_listed
            raise DatasetCheckError(
                f'{len(missing)} of {len(paths)} images listed in '
                f'{self.ann_file} are missing on disk: {listed}'
                f'{f" (and {more} more)" if more > 0 else ""}. Fix: check '
                '`data_prefix=dict(img=...)` in the config, or copy the '
                'images there.')


@DATASETS.register_module()
class ValidatedCocoDataset(AnnotationCheckMixin, CocoDataset):
    """mmpose's :class:`CocoDataset` with the checks of
    :class:`AnnotationCheckMixin`; everything else is mmpose's."""
