"""Per-image selection of dense-head candidates (score filter, NMS) and the
image bounds used to clip them: the eager inference path of the anchor
heads."""
from typing import Optional, Tuple

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import batched_nms


def select_and_nms(bboxes: Tensor, scores: Tensor, labels: Tensor,
                   score_thr: float, nms_thr: float, nms_pre: int,
                   max_per_img: int) -> Tensor:
    """Indices of the kept candidates of one image, by decreasing score.

    Candidates above ``score_thr`` (at most ``nms_pre`` best), then
    class-aware NMS (torchvision ``batched_nms``; none when ``nms_thr >=
    1``), at most ``max_per_img``. Non-finite boxes or scores are dropped.
    The traceable batch version is :func:`batched_select_nms`.

    Note:
        - candidates: N; bboxes (N, 4) xyxy, scores (N,), labels (N,)

    Returns:
        Tensor: (M,) long indices into the N candidates.
    """
    keep = (scores > score_thr).nonzero(as_tuple=True)[0]
    if keep.numel() > nms_pre:
        keep = keep[scores[keep].topk(nms_pre).indices]
    if keep.numel() == 0:
        return keep
    # NaN/inf boxes would poison the NMS: drop them
    finite = torch.isfinite(bboxes[keep]).all(-1) & torch.isfinite(
        scores[keep])
    keep = keep[finite]
    if nms_thr < 1.0:
        nms_keep = batched_nms(bboxes[keep].float(), scores[keep].float(),
                               labels[keep], nms_thr)
    else:
        nms_keep = scores[keep].argsort(descending=True)
    return keep[nms_keep[:max_per_img]]


def image_bounds(img_meta: dict) -> Optional[Tuple[float, ...]]:
    """(x0, y0, x1, y1): the original image in input pixels.

    With ``input_center``/``input_scale`` (mmpose's bottom-up resize or
    :class:`YOLOv5Letterbox`) and ``ori_shape``, the image without its
    padding, so that clipping here equals clipping in the original image
    after ``BottomupPoseEstimator`` maps the predictions back (as the
    originals do); else the whole input, else None.
    """
    if 'input_size' not in img_meta:
        return None
    w, h = (float(v) for v in img_meta['input_size'])
    if not {'input_center', 'input_scale', 'ori_shape'} <= set(img_meta):
        return (0.0, 0.0, w, h)
    center = np.asarray(img_meta['input_center'], np.float64)
    scale = np.asarray(img_meta['input_scale'], np.float64)
    per_px = np.array([w, h]) / scale  # input pixels per original one
    oh, ow = img_meta['ori_shape'][:2]
    lo = (0.5 * scale - center) * per_px
    hi = (np.array([ow, oh]) - center + 0.5 * scale) * per_px
    return (float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))


def clip_xy(xy: Tensor, bounds: Optional[Tuple[float, ...]]) -> Tensor:
    """Clamp (..., 2k) interleaved x, y coordinates to ``bounds`` (x0, y0,
    x1, y1); unchanged when ``bounds`` is None."""
    if bounds is None:
        return xy
    shape = xy.shape
    # explicit point count: -1 cannot be inferred when there are no boxes
    pts = xy.reshape(*shape[:-1], shape[-1] // 2, 2)
    pts = torch.stack([pts[..., 0].clamp(bounds[0], bounds[2]),
                       pts[..., 1].clamp(bounds[1], bounds[3])], -1)
    return pts.reshape(shape)
