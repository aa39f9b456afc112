"""Test-time resize of HigherHRNet / SWAHR bottom-up models (one scale)."""
from typing import Dict, Optional, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class HigherHRNetResizeAlign(BaseTransform):
    """Resize an image as the HigherHRNet / SWAHR test code does at one scale
    (``resize_align_multi_scale`` with ``current_scale = min_scale = 1``),
    written from its behaviour.

    With the image ``w x h`` and ``s = input_size``:

    - the short side becomes ``s`` (``s`` rounded up to a multiple of
      ``size_divisor`` first), the long side ``v = long / short * s``
      aligned to ``size_divisor`` ``d`` (64) as the original computes it,
      ``(v + d - 1) // d * d`` on the float ``v``: up for whole numbers,
      but a fractional ``v`` can go down (768.8 -> 768);
    - the centre is ``(int(w / 2 + 0.5), int(h / 2 + 0.5))`` (integer pixels);
    - the scale (the original's units of 200 px) is ``short / 200`` on the
      short side and ``resized_long / resized_short * short / 200`` on the
      long side, so the affine (centre, ``200 * scale[0]`` px wide window ->
      the resized width) keeps the aspect ratio and pads the long side;
    - the image is warped with that affine (``cv2.warpAffine``, bilinear,
      constant 0 border).

    Sets ``img`` (resized), ``img_shape``, ``input_size`` (w, h of the
    resized image), ``input_center`` (the centre, float32) and
    ``input_scale`` (``200 * scale``, pixels, float32) so that mmpose's
    ``BottomupPoseEstimator`` maps keypoints from input pixels back to the
    image as the original's ``get_final_preds`` does:
    ``x_img = (x - input_w / 2) * input_scale_w / input_w + center_x`` (the
    original uses the width ratio for both axes; both ratios are equal up to
    rounding by construction). ``input_scale`` is kept in float64 when
    ``float64_meta`` (exactly the original's numbers; mmpose casts to the
    keypoints' dtype anyway).

    Required keys: ``img``. Modified keys: ``img``, ``img_shape``. Added
    keys: ``input_size``, ``input_center``, ``input_scale``.

    Args:
        input_size (int): Short side of the resized image (the original's
            ``DATASET.INPUT_SIZE``, 512 for W32, 640 for W48).
        size_divisor (int): The sides are multiples of it (64).
        float64_meta (bool): Keep ``input_center`` / ``input_scale`` in
            float64 instead of float32.
    """

    def __init__(self,
                 input_size: int = 512,
                 size_divisor: int = 64,
                 float64_meta: bool = False) -> None:
        super().__init__()
        if int(input_size) <= 0 or int(size_divisor) <= 0:
            raise ValueError('input_size and size_divisor must be positive, '
                             f'got {input_size} and {size_divisor}')
        self.input_size = int(input_size)
        self.size_divisor = int(size_divisor)
        self.float64_meta = float64_meta

    def _align(self, v: float) -> int:
        d = self.size_divisor
        return int((v + d - 1) // d * d)

    def get_size_center_scale(
            self, w: int, h: int) -> Tuple[Tuple[int, int], np.ndarray,
                                           np.ndarray]:
        """``((w_resized, h_resized), center, scale)`` for an image ``w x h``;
        ``scale`` in the original's units of 200 px."""
        center = np.array([int(w / 2.0 + 0.5), int(h / 2.0 + 0.5)])
        short = self._align(self.input_size)
        if w < h:
            w_r = short
            h_r = self._align(short / w * h)
            scale = np.array([w / 200.0, h_r / w_r * w / 200.0])
        else:
            h_r = short
            w_r = self._align(short / h * w)
            scale = np.array([w_r / h_r * h / 200.0, h / 200.0])
        return (int(w_r), int(h_r)), center, scale

    @staticmethod
    def warp_matrix(center: np.ndarray, src_w: float,
                    size: Tuple[int, int]) -> np.ndarray:
        """The 2x3 affine that maps the ``src_w`` px wide window centred on
        ``center`` onto an image of ``size`` (w, h), aspect kept.

        Made as the original makes it (numerically): from three float32
        point pairs (the centre, the point ``src_w / 2`` above it and the
        point ``src_w / 2`` left of that) with ``cv2.getAffineTransform``, so
        the warped pixels are the original's bit for bit. mmpose's
        ``get_warp_matrix`` takes the second point to the left instead,
        which rounds differently in float32."""
        cx, cy = float(center[0]), float(center[1])
        half = float(src_w) * 0.5
        w, h = size
        def points(c, d):
            # c, c + d, and the third corner of the right angle at c + d
            p = np.zeros((3, 2), dtype=np.float32)
            p[0] = c
            p[1] = np.asarray(c) + np.asarray(d)
            e = p[0] - p[1]
            p[2] = p[1] + np.array([-e[1], e[0]], dtype=np.float32)
            return p

        src = points([cx, cy], [0.0, -half])
        dst = points([w * 0.5, h * 0.5], [0.0, -w * 0.5])
        return cv2.getAffineTransform(src, dst)

    def transform(self, results: Dict) -> Optional[dict]:
        img = results['img']
        h, w = img.shape[:2]
        (w_r, h_r), center, scale = self.get_size_center_scale(w, h)
        scale_px = scale * 200.0
        warp = self.warp_matrix(center, scale_px[0], (w_r, h_r))
        results['img'] = cv2.warpAffine(img, warp, (w_r, h_r),
                                        flags=cv2.INTER_LINEAR)
        results['img_shape'] = results['img'].shape[:2]
        dtype = np.float64 if self.float64_meta else np.float32
        results['input_size'] = (w_r, h_r)
        results['input_center'] = center.astype(dtype)
        results['input_scale'] = scale_px.astype(dtype)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(input_size={self.input_size}, '
                f'size_divisor={self.size_divisor}, '
                f'float64_meta={self.float64_meta})')
