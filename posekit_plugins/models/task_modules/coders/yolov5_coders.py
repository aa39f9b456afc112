"""YOLOv5-style decoding of raw anchor outputs (boxes and keypoints).

All functions work in grid units relative to the cell corner (the cell's
top-left), so a level's prediction in input pixels is ``(value + cell) *
stride``; :func:`cell_grid` gives the cells.
"""
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy
from torch import Tensor


def cell_grid(h: int, w: int, like: Tensor) -> Tensor:
    """(H, W, 2) cell corners (x, y) in grid units, dtype/device of
    ``like``."""
    ys = torch.arange(h, device=like.device, dtype=like.dtype)
    xs = torch.arange(w, device=like.device, dtype=like.dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing='ij')
    return torch.stack([gx, gy], dim=-1)


def decode_box_cell(raw: Tensor, anchors: Tensor) -> Tensor:
    """YOLOv5 box: raw (..., 4) to (x, y, w, h), ``xy = 2 sigmoid(t) - 0.5``
    from the cell corner, ``wh = (2 sigmoid(t))^2 * anchor``; ``anchors``
    (..., 2) in grid units."""
    xy = raw[..., :2].sigmoid() * 2 - 0.5
    wh = (raw[..., 2:4].sigmoid() * 2).pow(2) * anchors
    return torch.cat([xy, wh], dim=-1)


def decode_yolopose_keypoints(raw: Tensor,
                              num_keypoints: int) -> Tuple[Tensor, Tensor]:
    """YOLO-Pose keypoints: raw (..., 3K) ``(tx, ty, tc) x K`` to (..., K, 2)
    positions ``2 t - 0.5`` from the cell corner (no sigmoid, not scaled by
    the anchor, as the original) and (..., K) confidence logits."""
    r = raw.unflatten(-1, (num_keypoints, 3))
    return r[..., :2] * 2 - 0.5, r[..., 2]


def decode_kapao_keypoints(raw: Tensor, anchors: Tensor,
                           num_keypoints: int) -> Tensor:
    """KAPAO pose-object keypoints: raw (..., 2K) to (..., K, 2) positions
    ``(4 sigmoid(t) - 2) * anchor`` from the cell corner; ``anchors``
    (..., 2) in grid units."""
    t = raw.unflatten(-1, (num_keypoints, 2))
    return (t.sigmoid() * 4 - 2) * anchors[..., None, :]


#: ``decode_extra(raw_extra (B, A, H, W, E), grid (H, W, 2), stride,
#: anchors (A, 2) grid units) -> {name: (B, A, H, W, ...)}``
ExtraDecoder = Callable[[Tensor, Tensor, int, Tensor], Dict[str, Tensor]]


def decode_anchor_outputs(outputs: Sequence[Tensor],
                          featmap_strides: Sequence[int], anchors: Tensor,
                          num_classes: int,
                          decode_extra: ExtraDecoder) -> Dict[str, Tensor]:
    """Decode the raw outputs of a YOLOv5-style anchor head, all levels
    flattened to (B, N, ...).

    Tensor operations only (no host synchronisation, no data-dependent
    Python): the heads' ``predict`` and the ONNX export
    (:mod:`posekit_plugins.deployment.onestage`) call this same function.

    Note:
        - batch: B; anchors per level: A; level map: H, W; N = sum A H W
        - a level's raw output: (B, A, H, W, C), C = 5 + num_classes + E

    Args:
        outputs (Sequence[Tensor]): One raw output per level.
        featmap_strides (Sequence[int]): Stride of each level.
        anchors (Tensor): (levels, A, 2) anchors (w, h) in input pixels.
        num_classes (int): Classes per anchor.
        decode_extra (callable): Decodes the E extra channels of a level
            (see :data:`ExtraDecoder`), in input pixels.

    Returns:
        dict: ``bboxes`` (B, N, 4) xyxy input pixels, ``obj`` (B, N) and
        ``cls`` (B, N, num_classes) probabilities, and the extras.
    """
    nc = num_classes
    per_level: List[Dict[str, Tensor]] = []
    for lvl, out in enumerate(outputs):
        _, _, H, W, _ = out.shape
        stride = featmap_strides[lvl]
        grid = cell_grid(H, W, out)
        level_anchors = anchors[lvl].to(out) / stride
        box = decode_box_cell(out[..., :4], level_anchors[None, :, None, None])
        xy = (box[..., :2] + grid) * stride
        wh = box[..., 2:] * stride
        d = dict(
            bboxes=bbox_cxcywh_to_xyxy(torch.cat([xy, wh], dim=-1)),
            obj=out[..., 4].sigmoid(),
            cls=out[..., 5:5 + nc].sigmoid())
        d.update(decode_extra(out[..., 5 + nc:], grid, stride, level_anchors))
        per_level.append(d)
    # flatten (B, A, H, W, ...) -> (B, A H W, ...) without reading B, so a
    # traced graph keeps a dynamic batch
    return {
        k: torch.cat([d[k].flatten(1, 3) for d in per_level], dim=1)
        for k in per_level[0]
    }
