"""YOLOv5's horizontal flip (``np.fliplr`` and ``x -> 1 - x``)."""
from typing import Dict, Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class YOLOv5RandomFlip(BaseTransform):
    """Left-right flip as YOLOv5's training loader (`YOLOv5
    <https://github.com/ultralytics/yolov5>`_) in YOLO-Pose
    (`arXiv:2204.06806 <https://arxiv.org/abs/2204.06806>`_) and KAPAO
    (`arXiv:2111.08557 <https://arxiv.org/abs/2111.08557>`_): with
    probability ``prob`` (``hyp['fliplr']``, 0.5) the image is mirrored,
    every x coordinate becomes ``W - x`` (the originals' normalised ``1 -
    x``; pixel *edges* mirror onto each other) and keypoints and their
    visibility are re-ordered with the metainfo's ``flip_indices`` (the
    originals' ``flip_index`` / ``kp_flip``, identical for COCO).

    mmpose's ``RandomFlip`` maps ``x -> W - 1 - x`` (pixel *centres* mirror
    onto each other), 1 px left of the originals' targets after every flip.
    KAPAO also swaps the classes of its keypoint objects; here the head
    builds those from the (already re-ordered) keypoints.

    Note:
        Shapes: ``img`` (H, W, c); ``bbox`` (N, 4) xyxy (``x1, x2 -> W -
        x2, W - x1``); ``keypoints`` (N, K, 2); ``keypoints_visible`` (N, K)
        (re-ordered along K). ``W`` is ``input_size[0]`` if set (as mmpose),
        else the image width. Sets ``flip`` and ``flip_direction``
        (``'horizontal'`` or None). The flipped image is a view (as
        mmcv's ``imflip``); ``PackPoseInputs`` makes it contiguous.

    Required keys: ``img``, ``flip_indices`` when there are keypoints.

    Args:
        prob (float): Flip probability. Defaults to 0.5.
    """

    def __init__(self, prob: float = 0.5) -> None:
        super().__init__()
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob}')
        self.prob = prob

    def transform(self, results: Dict) -> Dict:
        """Flip with probability ``prob``."""
        return self.apply(results, bool(np.random.rand() < self.prob))

    @staticmethod
    def apply(results: Dict,
              flip: bool,
              flip_indices: Optional[Sequence[int]] = None) -> Dict:
        """Flip ``results`` if ``flip`` (``flip_indices`` overrides
        ``results['flip_indices']``)."""
        results['flip'] = flip
        results['flip_direction'] = 'horizontal' if flip else None
        if not flip:
            return results
        img = results['img']
        results['img'] = img[:, ::-1]  # a view, as mmcv.imflip
        w = results.get('input_size', (img.shape[1], img.shape[0]))[0]
        if results.get('bbox') is not None:
            bbox = np.asarray(results['bbox'])
            flipped = bbox.copy()
            flipped[..., 0] = w - bbox[..., 2]
            flipped[..., 2] = w - bbox[..., 0]
            results['bbox'] = flipped
        kpts = results.get('keypoints')
        if kpts is not None and len(kpts):
            if flip_indices is None:
                flip_indices = results.get('flip_indices')
            if flip_indices is None:
                raise KeyError('YOLOv5RandomFlip needs results["flip_indices"]'
                               ' (the dataset metainfo sets it) to flip '
                               'keypoints')
            idx = np.asarray(flip_indices, dtype=np.int64)
            kpts = np.asarray(kpts)
            if idx.shape != (kpts.shape[1], ):
                raise ValueError(f'flip_indices has {idx.size} entries for '
                                 f'{kpts.shape[1]} keypoints')
            kpts = kpts[:, idx].copy()
            kpts[..., 0] = w - kpts[..., 0]
            results['keypoints'] = kpts
            if results.get('keypoints_visible') is not None:
                results['keypoints_visible'] = np.asarray(
                    results['keypoints_visible'])[:, idx].copy()
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
