"""YOLOv5's assignment of ground-truth boxes to anchors and grid cells."""
from typing import List, NamedTuple, Sequence, Tuple

import torch
from mmpose.registry import TASK_UTILS
from torch import Tensor

#: the 5 candidate cell offsets of YOLOv5's assignment: own cell, then the
#: left, upper, right and lower neighbours (scaled by ``neighbour_thr``)
_CELL_OFFSETS = ((0, 0), (1, 0), (0, 1), (-1, 0), (0, -1))


class LevelAssignment(NamedTuple):
    """Positives of one level, one row per (ground truth, anchor, cell).

    All fields are 1-D tensors of length M (the number of positives):
    ``img_idx`` (image in the batch), ``anchor_idx`` (anchor of the level),
    ``grid_x``/``grid_y`` (cell column/row, clamped to the map), ``gt_idx``
    (row of the batch targets).
    """
    img_idx: Tensor
    anchor_idx: Tensor
    grid_x: Tensor
    grid_y: Tensor
    gt_idx: Tensor



@TASK_UTILS.register_module()
class YOLOv5Assigner:
    """YOLOv5's ``build_targets``: which anchors and cells learn a box.

    A ground-truth box goes to anchor ``a`` of level ``l`` when
    ``max(r, 1/r) < anchor_ratio_thr`` for both ``r = (w, h)_gt /
    anchor_a`` (grid units), to its own cell and to the (up to 2)
    neighbouring cells whose centre lies within ``neighbour_thr`` of a cell
    of the box centre (not at the map border). Degenerate boxes (zero
    width or height) match no anchor.

    Note:
        - boxes: T; anchors per level: A; positives of a level: M

        YOLOv5: https://github.com/ultralytics/yolov5 (v5.0, ``utils/loss.py``)

    Args:
        anchor_ratio_thr (float): YOLOv5's ``anchor_t``.
        neighbour_thr (float): Cell-offset threshold ``g`` of the neighbour
            cells (0 disables the neighbours).
    """

    def __init__(self, anchor_ratio_thr: float = 4.0,
                 neighbour_thr: float = 0.5) -> None:
        self.anchor_ratio_thr = anchor_ratio_thr
        self.neighbour_thr = neighbour_thr

    def assign(self, bboxes: Tensor, img_idx: Tensor,
               featmap_sizes: Sequence[Tuple[int, int]],
               strides: Sequence[int], anchors: Tensor
               ) -> List[LevelAssignment]:
        """The positives of each level.

        Args:
            bboxes (Tensor): (T, 4) xyxy boxes in input pixels.
            img_idx (Tensor): (T,) image index of each box.
            featmap_sizes: (H, W) of each level.
            strides: Stride of each level.
            anchors (Tensor): (nl, A, 2) anchor (w, h) in input pixels.

        Returns:
            list[LevelAssignment]: The positives of each level.
        """
        device = bboxes.device
        cxcy = (bboxes[:, :2] + bboxes[:, 2:]) / 2
        wh = bboxes[:, 2:] - bboxes[:, :2]
        g = self.neighbour_thr
        offsets = torch.tensor(_CELL_OFFSETS, dtype=bboxes.dtype,
                               device=device) * g
        results = []
        for lvl, (h, w) in enumerate(featmap_sizes):
            stride = strides[lvl]
            anchor_grid = anchors[lvl].to(bboxes) / stride  # (A, 2) grid
            gxy = cxcy / stride
            gwh = wh / stride
            # (A, T): shape match against each anchor (degenerate boxes give
            # an infinite ratio and match nothing)
            r = gwh[None] / anchor_grid[:, None]
            ratio = torch.maximum(r, 1 / r).amax(-1)
            a_idx, t_idx = (ratio < self.anchor_ratio_thr).nonzero(
                as_tuple=True)
            gxy_m = gxy[t_idx]
            gxy_inv = gxy.new_tensor([w, h]) - gxy_m
            left, up = ((gxy_m % 1 < g) & (gxy_m > 1)).T
            right, down = ((gxy_inv % 1 < g) & (gxy_inv > 1)).T
            sel = torch.stack(
                [torch.ones_like(left), left, up, right, down])  # (5, M)
            rep = sel.nonzero(as_tuple=True)  # (offset k, match m)
            cell = (gxy_m[rep[1]] - offsets[rep[0]]).floor().long()
            gx = cell[:, 0].clamp(0, w - 1)
            gy = cell[:, 1].clamp(0, h - 1)
            gt = t_idx[rep[1]]
            results.append(
                LevelAssignment(
                    img_idx=img_idx[gt],
                    anchor_idx=a_idx[rep[1]],
                    grid_x=gx,
                    grid_y=gy,
                    gt_idx=gt))
        return results
