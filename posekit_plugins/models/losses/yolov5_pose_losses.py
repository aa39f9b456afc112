"""YOLOv5-family loss pieces as YOLO-Pose's and KAPAO's code compute them.

Written from the descriptions in the papers and the behaviour of the
original training code (``utils/loss.py`` of TexasInstruments
edgeai-yolov5 ``yolo-pose`` and of wmcnally/kapao), which is not copied:
the parity tests (``tests/test_models/test_losses/
test_yolov5_loss_parity.py``) check the values against fixtures made by
running it (``tools/make_loss_fixtures.py``).
"""
import math
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmpose.registry import MODELS
from torch import Tensor

from .keypoint_inputs import keypoint_weights
from .oks_keypoint_loss import COCO_AREA_EPS, _metainfo_sigmas


def yolov5_ciou(pred: Tensor, target: Tensor, eps: float = 1e-7) -> Tensor:
    r"""Aligned Complete-IoU of xyxy boxes as YOLOv5's ``bbox_iou(...,
    CIoU=True)`` computes it.

    .. math::

        \mathrm{CIoU} = \mathrm{IoU} - \frac{\rho^2}{c^2} - \alpha v, \quad
        v = \frac{4}{\pi^2}\left(\arctan\frac{w_2}{h_2}
            - \arctan\frac{w_1}{h_1}\right)^2, \quad
        \alpha = \frac{v}{v - \mathrm{IoU} + 1 + \epsilon}

    with ``eps`` added to both heights, to the union and to ``c^2``, and
    ``alpha`` taken without gradient. It differs from mmdet's
    ``ciou_loss``, which sets ``alpha = 0`` where ``IoU <= 0.5`` (the CIoU
    paper's later variant), has no ``eps`` in the heights and clamps the
    result to ``[-1, 1]``.

    Note:
        - boxes: N; ``pred`` and ``target`` (N, 4) xyxy; returns (N,)

    Args:
        pred (Tensor): Predicted boxes (N, 4), xyxy.
        target (Tensor): Target boxes (N, 4), xyxy.
        eps (float): YOLOv5's epsilon.

    Returns:
        Tensor: (N,) CIoU.
    """
    px1, py1, px2, py2 = pred.unbind(-1)
    tx1, ty1, tx2, ty2 = target.unbind(-1)
    inter = (torch.minimum(px2, tx2) - torch.maximum(px1, tx1)).clamp(0) * \
        (torch.minimum(py2, ty2) - torch.maximum(py1, ty1)).clamp(0)
    w1, h1 = px2 - px1, py2 - py1 + eps
    w2, h2 = tx2 - tx1, ty2 - ty1 + eps
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    cw = torch.maximum(px2, tx2) - torch.minimum(px1, tx1)
    ch = torch.maximum(py2, ty2) - torch.minimum(py1, ty1)
    c2 = cw.pow(2) + ch.pow(2) + eps
    rho2 = ((tx1 + tx2 - px1 - px2).pow(2) +
            (ty1 + ty2 - py1 - py2).pow(2)) / 4
    v = (4 / math.pi**2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
    with torch.no_grad():
        alpha = v / (v - iou + (1 + eps))
    return iou - (rho2 / c2 + v * alpha)


@MODELS.register_module()
class YOLOv5CIoULoss(nn.Module):
    """``mean(1 - CIoU)`` with YOLOv5's CIoU (:func:`yolov5_ciou`).

    The YOLOv5-family heads also take their objectness target from
    :meth:`ciou` (detached), as YOLOv5 does.

    Note:
        - boxes: N; inputs (N, 4) xyxy

    Args:
        eps (float): YOLOv5's epsilon.
        reduction (str): ``'mean'`` (YOLOv5), ``'sum'`` or ``'none'``.
        loss_weight (float): Factor on the loss.
    """

    def __init__(self, eps: float = 1e-7, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('none', 'mean', 'sum'):
            raise ValueError(f'YOLOv5CIoULoss: bad reduction {reduction!r}')
        self.eps = eps
        self.reduction = reduction
        self.loss_weight = loss_weight

    def ciou(self, pred: Tensor, target: Tensor) -> Tensor:
        """(N,) CIoU of aligned xyxy boxes."""
        return yolov5_ciou(pred, target, self.eps)

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        """Loss of (N, 4) xyxy ``pred`` against ``target``."""
        loss = 1.0 - self.ciou(pred, target)
        if self.reduction == 'mean':
            loss = loss.mean()
        elif self.reduction == 'sum':
            loss = loss.sum()
        return loss * self.loss_weight


@MODELS.register_module()
class YOLOPoseOKSLoss(nn.Module):
    r"""YOLO-Pose's OKS keypoint loss, with the two departures we use as
    options.

    Per keypoint ``k`` of a positive with visibility mask ``m_k``, target
    box area ``A`` (grid units) and sigma ``s_k``:

    - ``exponent='original'`` (the original code):
      ``e_k = d_k^2 / (4 s_k^2 A + 1e-9)``;
      ``exponent='metric'`` (pycocotools, as :class:`OKSKeypointLoss`):
      ``e_k = d_k^2 / (8 s_k^2 (A + eps))``, twice as soft.
    - ``average='keypoint'`` (the original code, its ``kpt_loss_factor``):
      ``sum_{n,k} m_k (1 - exp(-e_k)) / sum_{n,k} m_k`` over all positives
      of the level; ``average='instance'``: ``1 - OKS`` per positive with a
      visible keypoint, averaged over those positives.

    No visible keypoint at all: the original divides 0 by 0 (NaN); this
    loss returns 0 with a zero gradient. That guard is always on.

    Note:
        - positives: N; keypoints: K
        - ``output``, ``target`` (N, K, 2); ``target_weight`` (N, K);
          ``areas`` (N,)

    Args:
        metainfo (str, optional): Dataset metainfo file for the sigmas (as
            :class:`OKSKeypointLoss`).
        sigmas (Sequence[float], optional): Per-keypoint sigmas.
        exponent (str): ``'original'`` or ``'metric'``.
        average (str): ``'keypoint'`` or ``'instance'``.
        loss_weight (float): Factor on the loss.
    """

    def __init__(self,
                 metainfo: Optional[str] = None,
                 sigmas: Optional[Sequence[float]] = None,
                 exponent: str = 'original',
                 average: str = 'keypoint',
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if exponent not in ('original', 'metric'):
            raise ValueError("YOLOPoseOKSLoss: exponent must be 'original' "
                             f"or 'metric', got {exponent!r}")
        if average not in ('keypoint', 'instance'):
            raise ValueError("YOLOPoseOKSLoss: average must be 'keypoint' or "
                             f"'instance', got {average!r}")
        if sigmas is None:
            if metainfo is None:
                raise ValueError('YOLOPoseOKSLoss needs `metainfo` or '
                                 '`sigmas`.')
            sigmas = _metainfo_sigmas(metainfo)
        # float32 like the original's hard-coded tensor
        self.register_buffer(
            'sigmas', torch.as_tensor(np.asarray(sigmas, np.float32)))
        self.exponent = exponent
        self.average = average
        self.loss_weight = loss_weight

    def forward(self,
                output: Tensor,
                target: Tensor,
                target_weight: Optional[Tensor] = None,
                areas: Optional[Tensor] = None) -> Tensor:
        """Scalar loss (see the class docstring)."""
        if areas is None:
            raise ValueError('YOLOPoseOKSLoss needs `areas` (N,).')
        m = keypoint_weights('YOLOPoseOKSLoss', output, target, target_weight)
        m = (m > 0).to(output.dtype)
        s2 = self.sigmas.to(output.dtype).pow(2)[None]
        d = (output - target).pow(2).sum(-1)
        a = areas.to(output.dtype)[:, None]
        if self.exponent == 'original':
            e = d / (a * (4 * s2) + 1e-9)
        else:
            e = d / (8 * s2 * (a.clamp(min=0) + COCO_AREA_EPS))
        per_kpt = (1 - torch.exp(-e)) * m
        tiny = torch.finfo(output.dtype).tiny
        if self.average == 'keypoint':
            loss = per_kpt.sum() / m.sum().clamp(min=tiny)
        else:
            n_vis = m.sum(-1)
            per_inst = per_kpt.sum(-1) / n_vis.clamp(min=tiny)
            loss = per_inst.sum() / (n_vis > 0).sum().clamp(min=1).to(
                output.dtype)
        return loss * self.loss_weight
