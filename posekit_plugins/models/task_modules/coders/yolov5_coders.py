"""YOLOv5-style decoding of raw anchor outputs (boxes and keypoints).

All functions work in grid units relative to the cell corner (the cell's
top-left), so a level's prediction in input pixels is ``(value + cell) *
stride``; :func:`cell_grid` gives the cells.
"""
from typing import Tuple

import torch
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
