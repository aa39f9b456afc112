"""YOLOv5's multiplicative HSV colour augmentation (``augment_hsv``)."""
from typing import Dict, Sequence

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class YOLOv5HSVRandomAug(BaseTransform):
    """Random hue, saturation and value gains, exactly as YOLOv5's
    ``augment_hsv`` (`YOLOv5 <https://github.com/ultralytics/yolov5>`_), used
    by YOLO-Pose (`arXiv:2204.06806 <https://arxiv.org/abs/2204.06806>`_) and
    KAPAO (`arXiv:2111.08557 <https://arxiv.org/abs/2111.08557>`_).

    Gains ``r = uniform(-1, 1, 3) * (hgain, sgain, vgain) + 1`` (numpy's
    global generator, one call of 3 values as the original), then in
    OpenCV's 8-bit HSV: ``h -> (h * r0) % 180``, ``s -> clip(s * r1, 0,
    255)``, ``v -> clip(v * r2, 0, 255)`` through look-up tables (truncated
    to uint8), back to BGR. The hyper-parameters of both originals are
    ``hsv_h=0.015, hsv_s=0.7, hsv_v=0.4``.

    mmpose's ``YOLOXHSVRandomAug`` differs: YOLOX's *additive* offsets
    (``h + randint(-5, 5)``, ``s + randint(-30, 30)``, ``v +
    randint(-30, 30)``, in int16, wrapped/clipped): it changes dark and
    bright pixels by the same amount, where YOLOv5 scales them.

    Note:
        Shapes: ``img`` (H, W, 3) uint8 **BGR** (mmpose's ``LoadImage``
        order; the originals' ``cv2.imread``), modified in place and
        returned in ``results['img']``. Other keys are untouched.

    Args:
        hgain (float): Hue gain range. Defaults to 0.015.
        sgain (float): Saturation gain range. Defaults to 0.7.
        vgain (float): Value gain range. Defaults to 0.4.
    """

    def __init__(self,
                 hgain: float = 0.015,
                 sgain: float = 0.7,
                 vgain: float = 0.4) -> None:
        super().__init__()
        for name, g in (('hgain', hgain), ('sgain', sgain), ('vgain', vgain)):
            if g < 0:
                raise ValueError(f'{name} must be >= 0, got {g}')
        self.gains = np.array([hgain, sgain, vgain], dtype=np.float64)

    def get_params(self) -> np.ndarray:
        """Draw the three gains ``r`` (the original's single call)."""
        return np.random.uniform(-1, 1, 3) * self.gains + 1

    def transform(self, results: Dict) -> Dict:
        """Apply freshly drawn gains (nothing is drawn if all are 0, as
        KAPAO's version)."""
        if not self.gains.any():
            return results
        return self.apply(results, self.get_params())

    @staticmethod
    def apply(results: Dict, gains: Sequence[float]) -> Dict:
        """Apply given gains ``r`` (3,) to ``results['img']``."""
        img = results.get('img')
        if (not isinstance(img, np.ndarray) or img.dtype != np.uint8
                or img.ndim != 3 or img.shape[2] != 3):
            raise ValueError('YOLOv5HSVRandomAug needs a (H, W, 3) uint8 BGR '
                             f'image, got {getattr(img, "dtype", type(img))} '
                             f'{getattr(img, "shape", "")}')
        r = np.asarray(gains, dtype=np.float64)
        if not img.flags.writeable or not img.flags.c_contiguous:
            img = np.ascontiguousarray(img).copy()
        hue, sat, val = cv2.split(cv2.cvtColor(img, cv2.COLOR_BGR2HSV))
        x = np.arange(0, 256, dtype=np.float64)
        lut_hue = ((x * r[0]) % 180).astype(np.uint8)
        lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
        lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
        img_hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat),
                             cv2.LUT(val, lut_val)))
        cv2.cvtColor(img_hsv, cv2.COLOR_HSV2BGR, dst=img)
        results['img'] = img
        return results

    def __repr__(self) -> str:
        h, s, v = self.gains
        return (f'{self.__class__.__name__}(hgain={h}, sgain={s}, '
                f'vgain={v})')
