"""COCO-style datasets that check their files before any training starts."""
import logging
import os.path as osp
from collections import Counter, defaultdict
from typing import Dict, List, Optional

import numpy as np
from mmengine.logging import print_log
from mmpose.datasets import CocoDataset
from mmpose.registry import DATASETS

from .metainfo_checks import (
    MetainfoCheckError,
    check_pose_metainfo,
    resolve_metainfo_file,
)


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
    - images listed in the annotation file but missing on disk;
    - a NaN or infinite box or keypoint value;
    - a metainfo file whose flip indices are not a left/right permutation,
      or whose sigmas / joint weights do not hold one value per keypoint
      (:func:`check_pose_metainfo`, naming the metainfo file);
    - top-down: no usable person left at all.

    A labelled keypoint (visibility > 0) more than ``outside_tolerance``
    pixels outside its image (default 1 px) is what mmpose trains on
    without a word: it stays labelled, its coordinates untouched, and the
    transforms and codecs drop it where it leaves the input or the heatmap.
    Here such keypoints are counted and logged once per dataset, as a
    warning naming the annotation file and an example; with ``strict=True``
    the first one is an error instead (``outside_tolerance=float('inf')``
    turns the check off).

    Persons that mmpose leaves out of top-down training and evaluation
    (crowds, persons without a labelled keypoint, boxes of zero width or
    height after clipping to the image) are normal in COCO (half of its
    person boxes have no keypoint), so they are not errors; their counts by
    reason are logged and kept in :attr:`dropped_instances`.
    """

    #: at most this many missing images are named in the error message
    max_listed: int = 5

    def __init__(self,
                 *args,
                 outside_tolerance: float = 1.0,
                 strict: bool = False,
                 **kwargs):
        self.outside_tolerance = outside_tolerance
        self.strict = strict
        self.dropped_instances: Dict[str, int] = {}
        #: labelled keypoints found outside their image (not strict)
        self.outside_keypoints = 0
        self._outside_example: Optional[str] = None
        metainfo = kwargs.get('metainfo')
        #: the metainfo file the keypoint set was read from (for messages)
        self.metainfo_file = self._metainfo_source(
            metainfo if metainfo is not None else self.METAINFO)
        super().__init__(*args, **kwargs)

    @staticmethod
    def _metainfo_source(metainfo) -> Optional[str]:
        if isinstance(metainfo, dict) and 'from_file' in metainfo:
            return resolve_metainfo_file(metainfo['from_file'])
        return None

    @classmethod
    def _load_metainfo(cls, metainfo: Optional[dict] = None) -> dict:
        source = cls._metainfo_source(
            metainfo if metainfo is not None else cls.METAINFO)
        try:
            parsed = super()._load_metainfo(metainfo)
        except KeyError as e:  # a "swap" or skeleton name that is no keypoint
            raise MetainfoCheckError(
                f'dataset metainfo file "{source}": {e} is used as a "swap" '
                'or skeleton "link" name but is not the name of any keypoint '
                'in keypoint_info. Fix: spell it as in keypoint_info.') from e
        if parsed:
            check_pose_metainfo(parsed, source)
        return parsed

    def load_data_list(self) -> List[dict]:
        self._check_paths()
        self.outside_keypoints, self._outside_example = 0, None
        data_list = super().load_data_list()
        self._check_images(data_list)
        if self.outside_keypoints:
            print_log(
                f'{self.ann_file}: {self.outside_keypoints} labelled '
                'keypoint(s) lie more than '
                f'{self.outside_tolerance:g} px outside their image, e.g. '
                f'{self._outside_example}. Training goes on as in mmpose: '
                'they stay labelled and the transforms/codec ignore them '
                'where they leave the input. Pass strict=True to the dataset '
                'to make this an error.', logger='current',
                level=logging.WARNING)
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
                f'"{self.metainfo.get("dataset_name")}" '
                f'({self.metainfo_file or "inline"}) defines '
                f'{num_keypoints} keypoints (3 values each). Fix: inherit '
                'the dataset _base_ file of this keypoint set (its '
                '`metainfo=dict(from_file=...)` matches the annotation '
                'file), see docs/custom_dataset.md.')
        if 'bbox' in ann and 'keypoints' in ann:  # mmpose skips the others
            self._check_values(ann, raw_data_info['raw_img_info'])
        return super().parse_data_info(raw_data_info)

    def _check_values(self, ann: dict, img: dict) -> None:
        where = (f'{self.ann_file}: annotation id {ann.get("id")} (image '
                 f'{ann.get("image_id")})')
        bbox = np.asarray(ann.get('bbox') or [], dtype=np.float64)
        kpts = np.asarray(ann.get('keypoints') or [],
                          dtype=np.float64).reshape(-1, 3)
        if not (np.isfinite(bbox).all() and np.isfinite(kpts).all()):
            raise DatasetCheckError(
                f'{where} has a NaN or infinite value in its bbox {bbox.tolist()}'
                ' or keypoints. Fix: correct or remove this annotation.')
        w, h, tol = img['width'], img['height'], self.outside_tolerance
        x, y = kpts[:, 0], kpts[:, 1]
        outside = (kpts[:, 2] > 0) & ((x < -tol) | (x > w + tol) |
                                      (y < -tol) | (y > h + tol))
        if not outside.any():
            return
        i = int(np.flatnonzero(outside)[0])
        example = (f'annotation id {ann.get("id")} (image '
                   f'{ann.get("image_id")}) keypoint {i} '
                   f'"{self.metainfo["keypoint_id2name"].get(i, i)}" at '
                   f'({x[i]:g}, {y[i]:g}) in a {w}x{h} image')
        if self.strict:
            raise DatasetCheckError(
                f'{self.ann_file}: {int(outside.sum())} labelled keypoint(s) '
                f'of {example} lie outside the image (strict=True). Fix: '
                'correct the coordinates, set the visibility flag of '
                'keypoints that are not in the image to 0, allow them with '
                '`outside_tolerance=<pixels>`, or drop strict=True to train '
                'on them as mmpose does.')
        self.outside_keypoints += int(outside.sum())
        if self._outside_example is None:
            self._outside_example = example

    def _get_topdown_data_infos(self, instance_list: List[dict]) -> List[dict]:
        data_list = super()._get_topdown_data_infos(instance_list)
        # mmpose decides what is dropped; we only name why
        kept = {id(info) for info in data_list}
        self.dropped_instances = dict(Counter(
            self._drop_reason(info) for info in instance_list
            if id(info) not in kept))
        dropped = sum(self.dropped_instances.values())
        reasons = ', '.join(f'{n} {k.replace("_", " ")}'
                            for k, n in self.dropped_instances.items())
        if dropped:
            print_log(
                f'{osp.basename(self.ann_file)}: {dropped} of '
                f'{len(instance_list)} persons are not used top-down '
                f'({reasons}), as in mmpose.', logger='current',
                level=logging.INFO)
        if instance_list and not data_list:
            raise DatasetCheckError(
                f'{self.ann_file}: none of its {len(instance_list)} persons '
                f'can be used top-down ({reasons}). Fix: label keypoints, or '
                'use an annotation file that has some.')
        return data_list

    @staticmethod
    def _drop_reason(info: dict) -> str:
        """The first check of mmpose's ``_is_valid_instance`` that a dropped
        person fails, in its order."""
        box = info['bbox'][0]
        if info.get('iscrowd'):
            return 'crowd'
        if info.get('num_keypoints') == 0:
            return 'without_labelled_keypoints'
        if box[2] - box[0] <= 0 or box[3] - box[1] <= 0:
            return 'degenerate_boxes'
        if np.max(info['keypoints']) <= 0:
            return 'without_labelled_keypoints'
        return 'other'

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


class BottomupFilterMixin:
    """Choose, by ``filter_cfg``, which persons and images a bottom-up
    training set keeps, to match YOLO-Pose's and KAPAO's own datasets.

    mmpose's bottom-up COCO data list has every image with at least one
    person annotation and, per image, *all* its person annotations (crowds
    and persons without labelled keypoints included; the pipeline's
    ``FilterAnnotations`` usually drops them); images without any person
    annotation are left out. mmpose reads no ``filter_cfg`` key in
    bottom-up mode (``filter_empty_gt`` and ``min_size`` in a config do
    nothing). These keys, all optional, change that (bottom-up only):

    - ``keep_empty_images`` (bool, default False): add every image of the
      annotation file that has no (kept) person as a background sample
      (empty annotation arrays), as both originals train on person-free
      images. Ignored in ``test_mode`` (mmpose already lists them).
    - ``keep_crowd`` (bool, default True): False drops crowd annotations
      (KAPAO's ``utils/labels.py`` skips them; the crowd region can still
      be masked: its segmentation stays in ``invalid_segs``).
    - ``min_keypoints`` (int, default 0): drop persons with fewer labelled
      keypoints (COCO's ``num_keypoints``). 1 keeps only persons with
      keypoints; 0 keeps those without as plain boxes (KAPAO's pose
      objects without keypoints).

    What was dropped, and how many images were added, is logged and kept
    in :attr:`bottomup_filter_counts`.
    """

    bottomup_filter_counts: Dict[str, int] = {}
    FILTER_KEYS = ('keep_empty_images', 'keep_crowd', 'min_keypoints')
    IGNORED_KEYS = ('filter_empty_gt', 'min_size')

    def _bottomup_filter_cfg(self) -> Optional[dict]:
        cfg = self.filter_cfg or {}
        unknown = set(cfg) - set(self.FILTER_KEYS) - set(
            self.IGNORED_KEYS) - {'bbox_score_thr'}
        if unknown:
            raise DatasetCheckError(
                f'filter_cfg has unknown keys {sorted(unknown)}; bottom-up '
                f'{type(self).__name__} reads {list(self.FILTER_KEYS)}.')
        if not any(k in cfg for k in self.FILTER_KEYS):
            return None
        out = dict(keep_empty_images=bool(cfg.get('keep_empty_images',
                                                  False)),
                   keep_crowd=bool(cfg.get('keep_crowd', True)),
                   min_keypoints=int(cfg.get('min_keypoints', 0)))
        if out['min_keypoints'] < 0:
            raise DatasetCheckError('filter_cfg min_keypoints must be >= 0, '
                                    f'got {out["min_keypoints"]}')
        return out

    def _get_bottomup_data_infos(self, instance_list: List[dict],
                                 image_list: List[dict]) -> List[dict]:
        cfg = self._bottomup_filter_cfg()
        if cfg is None:
            return super()._get_bottomup_data_infos(instance_list, image_list)
        kept, dropped_segs = [], defaultdict(list)
        counts = Counter()
        for inst in instance_list:
            reason = None
            if not cfg['keep_crowd'] and inst.get('iscrowd'):
                reason = 'crowd'
            elif inst.get('num_keypoints', 0) < cfg['min_keypoints']:
                reason = 'few_keypoints'
            if reason is None:
                kept.append(inst)
                continue
            counts[reason] += 1
            if 'segmentation' in inst and not self._is_valid_instance(inst):
                dropped_segs[inst['img_id']].append(inst['segmentation'])
        data_list = super()._get_bottomup_data_infos(kept, image_list)
        for info in data_list:
            info['invalid_segs'] = list(info.get('invalid_segs', [])) + \
                dropped_segs.pop(info['img_id'], [])
        if cfg['keep_empty_images'] and not self.test_mode:
            used = {info['img_id'] for info in data_list}
            for img in image_list:
                if img['img_id'] not in used:
                    data_list.append(self._empty_image_info(
                        img, dropped_segs.pop(img['img_id'], [])))
                    counts['empty_images_added'] += 1
        self.bottomup_filter_counts = dict(counts)
        print_log(
            f'{osp.basename(self.ann_file)}: bottom-up filter {cfg}: '
            f'{len(data_list)} images, {len(kept)} of {len(instance_list)} '
            f'person annotations kept ({dict(counts)}).', logger='current',
            level=logging.INFO)
        return data_list

    def _empty_image_info(self, img: dict, invalid_segs: list) -> dict:
        """A background sample with the keys and dtypes of the others."""
        k = self.metainfo['num_keypoints']
        return dict(
            img_id=img['img_id'],
            img_path=img['img_path'],
            bbox=np.zeros((0, 4), np.float32),
            bbox_score=np.zeros((0, ), np.float32),
            num_keypoints=[],
            keypoints=np.zeros((0, k, 2), np.float32),
            keypoints_visible=np.zeros((0, k), np.float32),
            area=np.zeros((0, ), np.float32),
            iscrowd=[],
            segmentation=[],
            id=[],
            category_id=np.zeros((0, ), np.int64),
            raw_ann_info=[],
            invalid_segs=invalid_segs)


@DATASETS.register_module()
class ValidatedCocoDataset(AnnotationCheckMixin, BottomupFilterMixin,
                           CocoDataset):
    """mmpose's :class:`CocoDataset` with the checks of
    :class:`AnnotationCheckMixin` and the bottom-up ``filter_cfg`` keys of
    :class:`BottomupFilterMixin`; everything else is mmpose's."""
