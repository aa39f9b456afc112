"""YOLOv5's ``random_perspective`` with YOLO-Pose's and KAPAO's keypoint
rules."""
import math
from numbers import Integral, Real
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS

from .yolov5_mosaic import num_instances, select_instances

KEYPOINT_RULES = ('inside', 'yolopose')


def box_candidates(box1: np.ndarray,
                   box2: np.ndarray,
                   wh_thr: float = 2,
                   ar_thr: float = 20,
                   area_thr: float = 0.1,
                   eps: float = 1e-16) -> np.ndarray:
    """YOLOv5's box filter: which boxes survive an augmentation.

    Args:
        box1 (np.ndarray): (N, 4) xyxy boxes before, scaled by the
            augmentation's scale (the original passes ``box * s``).
        box2 (np.ndarray): (N, 4) xyxy boxes after, clipped to the image.
        wh_thr (float): Minimum width and height (pixels, strict).
        ar_thr (float): Maximum aspect ratio (strict).
        area_thr (float): Minimum area ratio after / before (strict).
        eps (float): Added to the denominators.

    Returns:
        np.ndarray: (N,) bool.
    """
    w1, h1 = box1[:, 2] - box1[:, 0], box1[:, 3] - box1[:, 1]
    w2, h2 = box2[:, 2] - box2[:, 0], box2[:, 3] - box2[:, 1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (
        w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def _size(size) -> Optional[Tuple[int, int]]:
    if size is None:
        return None
    if isinstance(size, Integral) and not isinstance(size, bool):
        size = (size, size)
    if (not isinstance(size, Sequence) or len(size) != 2 or not all(
            isinstance(v, Integral) and not isinstance(v, bool) and v > 0
            for v in size)):
        raise ValueError('input_size must be None, a positive int or a (w, h) '
                         f'pair of positive ints, got {size!r}')
    return int(size[0]), int(size[1])


@TRANSFORMS.register_module()
class YOLOv5RandomPerspective(BaseTransform):
    """Random affine / perspective warp, exactly as YOLOv5's
    ``random_perspective`` (`YOLOv5 <https://github.com/ultralytics/yolov5>`_)
    in YOLO-Pose (`arXiv:2204.06806 <https://arxiv.org/abs/2204.06806>`_) and
    KAPAO (`arXiv:2111.08557 <https://arxiv.org/abs/2111.08557>`_).

    For an input of ``w_in x h_in`` and an output of ``W x H`` (after
    :class:`YOLOv5Mosaic`: ``2s x 2s`` in, ``s x s`` out, the originals'
    ``border = -s // 2``):

    - ``M = T @ S @ R @ P @ C``: ``C`` moves the input centre to the
      origin; ``P`` perspective ``uniform(-perspective, perspective)`` x, y;
      ``R`` rotation ``a = uniform(-degrees, degrees)`` and scale ``s =
      uniform(1 - scale, 1 + scale)`` (``cv2.getRotationMatrix2D``); ``S``
      shear ``tan(uniform(-shear, shear) deg)`` x, y; ``T`` moves the origin
      to ``uniform(0.5 - translate, 0.5 + translate) * (W, H)``. The
      random values are drawn in this order (numpy's global generator, which
      mmengine seeds) by :meth:`get_params`; :meth:`apply` takes them
      explicitly.
    - the image: ``cv2.warpAffine(img, M[:2], (W, H))`` (``warpPerspective``
      if ``perspective``), border ``pad_val``; skipped when ``M`` is the
      identity and the size is unchanged, as the original.
    - boxes: the four corners transformed, their bounding box clipped to
      ``[0, W] x [0, H]``; instances failing :func:`box_candidates` (new
      width and height > ``wh_thr`` px, area > ``area_thr`` of the old box
      scaled by ``s``, aspect ratio < ``ar_thr``) are removed. The boxes
      come from the person boxes, not from the keypoints (both originals).
    - keypoints: transformed with ``M``; which stay visible follows
      ``keypoint_rule``:

      - ``'inside'`` (KAPAO, and mmpose's convention): visible and the
        transformed point inside ``[0, W] x [0, H]`` (bounds included);
        coordinates are the transformed ones.
      - ``'yolopose'``: YOLO-Pose's labels have no visibility flag; a
        coordinate equal to 0 means "not labelled", and its code zeroes
        coordinates that were 0 before the warp and both coordinates of a
        point whose x or y leaves the image (its second test runs on the
        already zeroed x, so only y leaves y set). Its loss counts a
        keypoint where ``x != 0``. Hence: visible iff labelled, the input x
        is not 0 (e.g. not clipped to the left canvas edge by the mosaic),
        the transformed x is in ``[0, W]`` and not 0, and the transformed
        y is in ``[0, H]``, except that an input y of 0 (a point clipped to
        the top canvas edge by the mosaic) is kept as ``y = 0`` whatever
        its transformed value. These quirks are reproduced, not fixed.

    Note:
        Shapes: ``img`` (h_in, w_in, c) to (H, W, c); ``bbox`` (N, 4) xyxy,
        ``keypoints`` (N, K, 2), ``keypoints_visible`` (N, K), ``area``
        (N,) and the other per-instance keys to N' <= N instances (float32
        coordinates). ``N = 0`` is fine. Adds ``input_size`` (W, H) and
        ``warp_mat`` (2, 3) float32 (``M[:2]``; the affine part only when
        ``perspective`` is set).

    Args:
        input_size (int | Tuple[int, int], optional): Output ``(W, H)``.
            None keeps the input size (the originals' path without mosaic,
            ``border=(0, 0)``). Defaults to None.
        degrees (float): Rotation range (degrees). Defaults to 0
            (``hyp.scratch.yaml``, ``hyp.kp-p6.yaml``).
        translate (float): Translation range (fraction). Defaults to 0.1.
        scale (float): Scale range ``1 +- scale``. Defaults to 0.5
            (YOLO-Pose; KAPAO uses 0.9).
        shear (float): Shear range (degrees). Defaults to 0.
        perspective (float): Perspective range. Defaults to 0.
        pad_val (float): Border colour. Defaults to 114.
        keypoint_rule (str): ``'inside'`` or ``'yolopose'``, see above.
            Defaults to ``'inside'``.
        wh_thr, ar_thr, area_thr (float): :func:`box_candidates`
            thresholds. Default to the originals' 2, 20, 0.1.
    """

    def __init__(self,
                 input_size: Union[int, Tuple[int, int], None] = None,
                 degrees: float = 0.0,
                 translate: float = 0.1,
                 scale: float = 0.5,
                 shear: float = 0.0,
                 perspective: float = 0.0,
                 pad_val: float = 114,
                 keypoint_rule: str = 'inside',
                 wh_thr: float = 2,
                 ar_thr: float = 20,
                 area_thr: float = 0.1) -> None:
        super().__init__()
        self.input_size = _size(input_size)
        for name, value in (('degrees', degrees), ('translate', translate),
                            ('scale', scale), ('shear', shear),
                            ('perspective', perspective)):
            if not isinstance(value, Real) or value < 0:
                raise ValueError(f'{name} must be a number >= 0, got '
                                 f'{value!r}')
        self.degrees, self.translate, self.scale = degrees, translate, scale
        self.shear, self.perspective = shear, perspective
        self.pad_val = float(pad_val)
        if keypoint_rule not in KEYPOINT_RULES:
            raise ValueError(f'keypoint_rule must be one of {KEYPOINT_RULES},'
                             f' got {keypoint_rule!r}')
        self.keypoint_rule = keypoint_rule
        self.wh_thr, self.ar_thr, self.area_thr = wh_thr, ar_thr, area_thr

    def get_params(self) -> Dict[str, float]:
        """Draw the random values, in the original's order."""
        u = np.random.uniform
        p = self.perspective
        params = dict(perspective_x=u(-p, p), perspective_y=u(-p, p))
        params['angle'] = u(-self.degrees, self.degrees)
        params['scale'] = u(1 - self.scale, 1 + self.scale)
        params['shear_x'] = u(-self.shear, self.shear)
        params['shear_y'] = u(-self.shear, self.shear)
        params['translate_x'] = u(0.5 - self.translate, 0.5 + self.translate)
        params['translate_y'] = u(0.5 - self.translate, 0.5 + self.translate)
        return params

    @staticmethod
    def matrix(params: Dict[str, float], in_wh: Tuple[int, int],
               out_wh: Tuple[int, int]) -> np.ndarray:
        """``M = T @ S @ R @ P @ C`` (3, 3) float64 for given draws."""
        C = np.eye(3)
        C[0, 2], C[1, 2] = -in_wh[0] / 2, -in_wh[1] / 2
        P = np.eye(3)
        P[2, 0], P[2, 1] = params['perspective_x'], params['perspective_y']
        R = np.eye(3)
        R[:2] = cv2.getRotationMatrix2D(
            angle=params['angle'], center=(0, 0), scale=params['scale'])
        S = np.eye(3)
        S[0, 1] = math.tan(params['shear_x'] * math.pi / 180)
        S[1, 0] = math.tan(params['shear_y'] * math.pi / 180)
        T = np.eye(3)
        T[0, 2] = params['translate_x'] * out_wh[0]
        T[1, 2] = params['translate_y'] * out_wh[1]
        return T @ S @ R @ P @ C

    def transform(self, results: Dict) -> Dict:
        """Warp ``results`` with freshly drawn parameters."""
        return self.apply(results, self.get_params())

    def _warp_points(self, xy: np.ndarray, M: np.ndarray) -> np.ndarray:
        pts = np.concatenate([xy, np.ones((len(xy), 1))], axis=1) @ M.T
        if self.perspective:
            return pts[:, :2] / pts[:, 2:3]
        return pts[:, :2]

    def apply(self, results: Dict, params: Dict[str, float]) -> Dict:
        """Warp ``results`` with the given draws (see :meth:`get_params`).

        Args:
            results (dict): The result dict.
            params (dict): ``perspective_x``, ``perspective_y``, ``angle``,
                ``scale``, ``shear_x``, ``shear_y``, ``translate_x``,
                ``translate_y``.

        Returns:
            dict: The result dict, warped and filtered.
        """
        img = results.get('img')
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) \
                or img.size == 0:
            raise ValueError('YOLOv5RandomPerspective needs a non-empty image'
                             f', got {getattr(img, "shape", type(img))}')
        h_in, w_in = img.shape[:2]
        W, H = self.input_size or (w_in, h_in)
        M = self.matrix(params, (w_in, h_in), (W, H))
        if (W, H) != (w_in, h_in) or (M != np.eye(3)).any():
            border = (self.pad_val, ) * 3
            if self.perspective:
                img = cv2.warpPerspective(img, M, dsize=(W, H),
                                          borderValue=border)
            else:
                img = cv2.warpAffine(img, M[:2], dsize=(W, H),
                                     borderValue=border)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['input_size'] = (W, H)
        results['warp_mat'] = M[:2].astype(np.float32)

        n = num_instances(results)
        if n == 0:
            return results
        if results.get('bbox') is None:
            raise ValueError('YOLOv5RandomPerspective needs "bbox" (N, 4) '
                             'xyxy with the instances: its filter uses them')
        bbox = np.asarray(results['bbox'], dtype=np.float64).reshape(n, 4)
        corners = bbox[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)
        xy = self._warp_points(corners, M).reshape(n, 8)
        x, y = xy[:, [0, 2, 4, 6]], xy[:, [1, 3, 5, 7]]
        new = np.stack([x.min(1), y.min(1), x.max(1), y.max(1)], axis=1)
        new[:, [0, 2]] = new[:, [0, 2]].clip(0, W)
        new[:, [1, 3]] = new[:, [1, 3]].clip(0, H)
        keep = box_candidates(bbox * params['scale'], new, self.wh_thr,
                              self.ar_thr, self.area_thr)
        results['bbox'] = new.astype(np.float32)

        if results.get('keypoints') is not None:
            kpts = np.asarray(results['keypoints'], dtype=np.float64)
            k = kpts.shape[1]
            kin = kpts.reshape(-1, 2)
            kxy = self._warp_points(kin, M)
            vis = results.get('keypoints_visible')
            vis = (np.ones(kpts.shape[:2], np.float32) if vis is None else
                   np.asarray(vis).copy())
            flat_vis = vis.reshape(-1)
            if self.keypoint_rule == 'yolopose':
                kxy[kin[:, 1] == 0, 1] = 0
                ok = ((kin[:, 0] != 0) & (kxy[:, 0] >= 0) & (kxy[:, 0] <= W)
                      & (kxy[:, 0] != 0) & (kxy[:, 1] >= 0)
                      & (kxy[:, 1] <= H))
            else:
                ok = ((kxy[:, 0] >= 0) & (kxy[:, 0] <= W) & (kxy[:, 1] >= 0)
                      & (kxy[:, 1] <= H))
            flat_vis[~ok] = 0
            results['keypoints'] = kxy.reshape(n, k, 2).astype(np.float32)
            results['keypoints_visible'] = flat_vis.reshape(vis.shape)
        if results.get('area') is not None:
            det = abs(float(np.linalg.det(M[:2, :2])))
            results['area'] = (np.asarray(results['area'], np.float64) *
                               det).astype(np.float32)
        select_instances(results, keep)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'degrees={self.degrees}, translate={self.translate}, '
                f'scale={self.scale}, shear={self.shear}, '
                f'perspective={self.perspective}, pad_val={self.pad_val}, '
                f'keypoint_rule={self.keypoint_rule!r})')
