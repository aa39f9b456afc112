"""YOLOv5's letterbox resize: the input of YOLO-Pose's and KAPAO's own
inference code."""
from numbers import Integral, Real
from typing import Dict, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
from mmcv.transforms import BaseTransform
from mmpose.registry import TRANSFORMS


def _input_size(input_size: Union[int, Sequence[int]]) -> Tuple[int, int]:
    """``input_size`` as a ``(w, h)`` pair of positive ints."""
    if isinstance(input_size, Integral) and not isinstance(input_size, bool):
        input_size = (input_size, input_size)
    if (not isinstance(input_size, Sequence) or len(input_size) != 2
            or not all(isinstance(s, Integral) and not isinstance(s, bool)
                       for s in input_size)):
        raise TypeError('input_size must be an int or a (w, h) pair of ints, '
                        f'got {input_size!r}')
    if min(input_size) <= 0:
        raise ValueError(
            f'input_size must be positive, got {tuple(input_size)}')
    return int(input_size[0]), int(input_size[1])


@TRANSFORMS.register_module()
class YOLOv5Letterbox(BaseTransform):
    """Resize with the aspect ratio kept and pad to the input size, exactly
    as YOLOv5's ``letterbox`` (which YOLO-Pose and KAPAO use for inference),
    and store the metainfo that maps predictions back as the originals'
    ``scale_coords`` does.

    For an image of ``h0 x w0`` and an input of ``W x H``:

    1. ``r = min(H / h0, W / w0)``, capped at 1 if ``scaleup=False``;
    2. the image is resized to ``round(w0 * r) x round(h0 * r)`` (Python's
       ``round``: halves go to the even integer) with ``cv2.resize``
       ``INTER_LINEAR``, and only if that size differs from the image's;
    3. the remaining ``dw = W - new_w`` columns (``dh`` rows) are padded with
       the constant ``pad_val``: ``dw // 2`` on the left, the rest on the
       right (the original's ``round(dw / 2 - 0.1)`` and
       ``round(dw / 2 + 0.1)``); with ``auto=True`` only ``dw % stride``
       (``dh % stride``) is padded: the minimum rectangle whose sides are
       ``stride`` multiples when the resized side is one.

    The result is the original's uint8 BGR image pixel for pixel (same
    OpenCV calls; the tests compare sha1 digests against the original code's
    output). The channel order and ``/255`` are the data preprocessor's
    business, as for every mmpose transform.

    Why not mmpose's ``BottomupResize``: it samples the image with one
    ``cv2.warpAffine`` whose matrix maps the image centre to the input
    centre. Where the letterbox pads an odd number of rows it shifts the
    image by half a pixel (blending neighbouring rows and the border with
    the padding) instead of copying it, and where it scales it uses the
    pixel-corner convention (``x -> r x``) instead of ``cv2.resize``'s
    pixel-centre one (``x + 0.5 -> r (x + 0.5)``). Measured on the four
    ``data/coco_tiny`` images, as the configs set it (``size_factor=64``,
    ``pad_val=114``): at 640x640 three differ from the letterbox (up to 127
    grey levels; 49-65% of the pixels differ), the fourth (no scaling, even
    padding) is identical; at 960x960 all four differ (up to 87 levels). Its
    metainfo maps predictions back with the same affine as ours for a fixed
    square input, so the difference is in the pixels the network sees, not
    in the mapping.

    Metainfo convention (``input_size``, ``input_center``, ``input_scale``):
    mmpose's ``BottomupPoseEstimator.add_pred_to_datasample`` maps a point
    of the input back with ``x0 = x / input_size * input_scale +
    input_center - input_scale / 2``. We set, with ``W_in x H_in`` the final
    input (``W x H`` unless ``auto``), ``input_size = (W_in, H_in)``,
    ``input_center = (W_in / 2 - pad_x, H_in / 2 - pad_y) / gain`` and
    ``input_scale = (W_in, H_in) / gain``, so that mmpose computes
    ``x0 = (x - pad_x) / gain``: the originals' ``scale_coords``, equal up
    to floating-point rounding, with ``gain`` and ``pad`` as they choose
    them (``ratio_pad``):

    - ``ratio_pad=None`` (default): ``scale_coords(img1_shape, coords,
      img0_shape)`` without ``ratio_pad``, as YOLO-Pose's ``detect.py``,
      KAPAO's demos and ``val.py`` call it: ``gain = min(H_in / h0,
      W_in / w0)`` and ``pad = ((W_in - w0 * gain) / 2, (H_in - h0 * gain)
      / 2)``, hence ``input_center = (w0 / 2, h0 / 2)``. Note the
      half-pixel convention: this ``pad`` is the *float* centring offset of
      an image scaled by exactly ``gain``, not the integer padding actually
      applied (``dw // 2`` around a resized side that was rounded: up to
      0.75 px apart). We keep it on purpose: the reported coordinates must
      equal the original's. For ``auto=False`` and ``scaleup=True`` (the
      configs) ``gain == r``; with ``auto=True`` it comes from the padded
      input, as in ``scale_coords``, and may differ from ``r`` by the
      rounding of the resized side. With ``scaleup=False`` and a small
      image we use ``gain = r = 1`` (``scale_coords`` without ``ratio_pad``
      would scale such an input by ``min(H_in / h0, W_in / w0) > 1``,
      which is wrong; the originals only evaluate such inputs with
      ``ratio_pad``, and here both conventions agree since ``w0 * 1`` is
      integral).
    - ``ratio_pad='letterbox'``: ``scale_coords(..., ratio_pad=(ratio,
      pad))`` with the letterbox's own return values, as YOLO-Pose's
      ``test.py`` calls it: ``gain = r`` and ``pad = (dw / 2, dh / 2)``, half
      the padding actually applied (the float centre of the *rounded*
      resized image). It differs from the default by ``|round(w0 * r) -
      w0 * r| / 2`` input pixels (at most 0.25): e.g. 0.12 px (0.09 px in
      the image) for a 500x333 image at 640. Use it to compare with
      coordinates the original computed that way.

    Note:
        This is the originals' inference path (``LoadImages``: YOLO-Pose's
        ``detect.py``, KAPAO's demos). Their validation loaders
        (``LoadImagesAndLabels``, behind YOLO-Pose's ``test.py`` and KAPAO's
        ``val.py``) first resize the long side to ``img_size`` with
        ``int()`` truncation (``INTER_AREA`` when shrinking) and then
        letterbox with ``scaleup=False``; YOLO-Pose's ``test.py`` also uses
        rectangular batch shapes. That input differs from this one when the
        scaled short side has a fraction >= 0.5 (e.g. a 640x425 image at
        960), not when the scaling is by an integer (COCO at 1280).

    With ``map_annotations=True`` (for training pipelines), annotations
    present are mapped forward with the same affine, ``x = x0 * gain +
    pad`` (with ``ratio_pad='letterbox'``, how the originals place their
    training labels): the exact inverse of the metainfo mapping, so a
    prediction equal to the mapped annotation is reported at the
    annotation; everything in ``results`` is then in input coordinates, as
    after ``BottomupRandomAffine``, ready for ``GenerateTarget``. By default
    (test pipelines) they stay in image coordinates, as ``BottomupResize``
    leaves them and as mmpose's visualizer and metrics expect. ``warp_mat``
    holds that affine for the mask transforms (``BottomupGetIgnoreMask``).

    Required keys: ``img``. Optional keys (mapped): ``keypoints`` (N, K, 2),
    ``bbox`` (N, 4, xyxy), ``bbox_center`` (N, 2), ``bbox_scale`` (N, 2),
    ``area`` (N,).

    Modified keys: ``img``, ``img_shape``, and (``map_annotations``) the
    optional keys above.

    Added keys: ``input_size``, ``input_center``, ``input_scale``,
    ``warp_mat``, ``pad_param`` (float32 ``[top, bottom, left, right]``
    padding actually applied, as mmyolo's ``LetterResize``).

    Args:
        input_size (int | Tuple[int, int]): The input size ``(w, h)``
            (mmpose's order; the original's ``new_shape`` is ``(h, w)``).
            An int means a square.
        pad_val (float | Sequence[float]): Padding colour, one value for all
            channels or one per channel. Defaults to 114 (the originals').
        auto (bool): Pad only to the minimum rectangle (``dw % stride``), as
            ``LoadImages(auto=True)`` and YOLOv5's ``detect.py``. Defaults to
            False: a fixed ``input_size`` input, as the configs use and
            YOLO-Pose's ``LoadImages`` (``auto=False``).
        stride (int): The stride of ``auto``. Defaults to 32.
        scaleup (bool): Allow ``r > 1``. Defaults to True (the originals'
            inference); False never enlarges (their validation loader).
        ratio_pad (str, optional): How predictions are mapped back, as
            ``scale_coords`` without ``ratio_pad`` (None) or with the
            letterbox's ratio and pad (``'letterbox'``); see above.
            Defaults to None.
        map_annotations (bool): Map the annotations to input coordinates
            (see above). Defaults to False.
    """

    def __init__(self,
                 input_size: Union[int, Tuple[int, int]],
                 pad_val: Union[float, Sequence[float]] = 114,
                 auto: bool = False,
                 stride: int = 32,
                 scaleup: bool = True,
                 ratio_pad: Optional[str] = None,
                 map_annotations: bool = False) -> None:
        super().__init__()
        self.input_size = _input_size(input_size)
        if isinstance(pad_val, Real):
            pad_val = (float(pad_val), ) * 4
        else:
            pad_val = tuple(float(v) for v in pad_val)
            if not 1 <= len(pad_val) <= 4:
                raise ValueError('pad_val must be a number or 1 to 4 values '
                                 f'(one per channel), got {pad_val}')
        self.pad_val = pad_val
        if (not isinstance(stride, Integral) or isinstance(stride, bool)
                or stride <= 0):
            raise ValueError(f'stride must be a positive int, got {stride!r}')
        self.auto = bool(auto)
        self.stride = int(stride)
        self.scaleup = bool(scaleup)
        if ratio_pad not in (None, 'letterbox'):
            raise ValueError(
                f"ratio_pad must be None or 'letterbox', got {ratio_pad!r}")
        self.ratio_pad = ratio_pad
        self.map_annotations = bool(map_annotations)

    def _resized_size(self, h0: int, w0: int) -> Tuple[float, int, int]:
        """The original's ratio and resized ``(new_w, new_h)``."""
        w, h = self.input_size
        r = min(h / h0, w / w0)
        if not self.scaleup:
            r = min(r, 1.0)
        # Python's round on the same float expression as the original's
        # (halves to even: 212.5 -> 212, 637.5 -> 638)
        new_w, new_h = int(round(w0 * r)), int(round(h0 * r))
        return r, new_w, new_h

    def transform(self, results: Dict) -> Optional[Dict]:
        """Letterbox ``results['img']`` and set the metainfo.

        Args:
            results (dict): The result dict, with ``img`` (h, w[, c]).

        Returns:
            dict: The result dict, letterboxed.
        """
        img = results.get('img')
        if not isinstance(img, np.ndarray):
            raise TypeError('YOLOv5Letterbox needs results["img"] as a numpy '
                            f'array, got {type(img).__name__}')
        if img.ndim not in (2, 3) or img.size == 0:
            raise ValueError('YOLOv5Letterbox needs a non-empty (h, w) or '
                             f'(h, w, c) image, got shape {img.shape}')
        h0, w0 = img.shape[:2]
        r, new_w, new_h = self._resized_size(h0, w0)
        if new_w < 1 or new_h < 1:
            raise ValueError(
                f'an image of {w0}x{h0} (w x h) would be resized to '
                f'{new_w}x{new_h} for the input {self.input_size}: empty')

        if (new_w, new_h) != (w0, h0):
            resized = cv2.resize(img, (new_w, new_h),
                                 interpolation=cv2.INTER_LINEAR)
            if img.ndim == 3 and resized.ndim == 2:  # cv2 drops c == 1
                resized = resized[..., None]
        else:
            resized = img
        dw, dh = self.input_size[0] - new_w, self.input_size[1] - new_h
        if self.auto:
            dw, dh = dw % self.stride, dh % self.stride
        # == round(d / 2 - 0.1), round(d / 2 + 0.1) of the original
        top, left = dh // 2, dw // 2
        bottom, right = dh - top, dw - left
        out = cv2.copyMakeBorder(resized, top, bottom, left, right,
                                 cv2.BORDER_CONSTANT, value=self.pad_val)
        if resized.ndim == 3 and out.ndim == 2:
            out = out[..., None]

        h_in, w_in = out.shape[:2]
        if self.ratio_pad == 'letterbox':
            # the letterbox's (ratio, pad): half the padding applied
            gain, pad_x, pad_y = r, dw / 2, dh / 2
        else:
            # scale_coords' gain and float pad, from the final input's shape
            gain = min(h_in / h0, w_in / w0)
            if not self.scaleup:
                gain = min(gain, 1.0)
            pad_x, pad_y = (w_in - w0 * gain) / 2, (h_in - h0 * gain) / 2

        results['img'] = out
        results['img_shape'] = (h_in, w_in)
        results['input_size'] = (w_in, h_in)
        results['input_center'] = np.array(
            [(w_in / 2 - pad_x) / gain, (h_in / 2 - pad_y) / gain],
            dtype=np.float64)
        results['input_scale'] = np.array([w_in / gain, h_in / gain],
                                          dtype=np.float64)
        results['warp_mat'] = np.array(
            [[gain, 0., pad_x], [0., gain, pad_y]], dtype=np.float32)
        results['pad_param'] = np.array([top, bottom, left, right],
                                        dtype=np.float32)
        if self.map_annotations:
            self._map_annotations(results, gain, np.array([pad_x, pad_y]))
        return results

    @staticmethod
    def _map_annotations(results: Dict, gain: float,
                         pad: np.ndarray) -> None:
        """``x = x0 * gain + pad`` on the annotations that are present."""

        def points(key: str, n_coords: int) -> None:
            if results.get(key) is None:
                return
            arr = np.asarray(results[key])
            if arr.shape[-1] != n_coords:
                raise ValueError(f'results["{key}"] must have {n_coords} '
                                 f'coordinates last, got shape {arr.shape}')
            xy = arr.astype(np.float64).reshape(*arr.shape[:-1], -1, 2)
            mapped = (xy * gain + pad).reshape(arr.shape)
            results[key] = mapped.astype(
                arr.dtype if arr.dtype.kind == 'f' else np.float32)

        points('keypoints', 2)
        points('bbox', 4)
        points('bbox_center', 2)
        for key, factor in (('bbox_scale', gain), ('area', gain**2)):
            if results.get(key) is not None:
                arr = np.asarray(results[key])
                results[key] = (arr.astype(np.float64) * factor).astype(
                    arr.dtype if arr.dtype.kind == 'f' else np.float32)

    def __repr__(self) -> str:
        """print the basic information of the transform.

        Returns:
            str: Formatted string.
        """
        return (f'{self.__class__.__name__}(input_size={self.input_size}, '
                f'pad_val={self.pad_val}, auto={self.auto}, '
                f'stride={self.stride}, scaleup={self.scaleup}, '
                f'ratio_pad={self.ratio_pad!r}, '
                f'map_annotations={self.map_annotations})')
