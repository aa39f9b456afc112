"""Object Keypoint Similarity (OKS) loss, in the exact form of the COCO metric."""
import os.path as osp
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import MODELS
from torch import Tensor

from .keypoint_inputs import check_reduction, keypoint_weights

#: pycocotools adds ``np.spacing(1)`` to the annotation area in ``computeOks``
COCO_AREA_EPS = float(np.spacing(1))


def _metainfo_sigmas(path: str) -> np.ndarray:
    """The sigmas of a dataset metainfo config file (float64).

    A path as mmpose writes it (``'configs/_base_/datasets/coco.py'``) is
    relative to the mmpose repository: it is looked up relative to the
    working directory first (used if it defines ``dataset_info``), then in
    mmpose's installed configs, as mmpose's ``parse_pose_metainfo`` does
    (without its warning on every call). The file is checked by
    ``parse_pose_metainfo``, which casts the sigmas to float32; the raw list
    is returned so that they equal pycocotools' bit for bit.
    """
    import mmpose
    candidates = [
        path,
        osp.join(
            osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
            'datasets', osp.basename(path))
    ]
    for cand in candidates:
        if not osp.isfile(cand):
            continue
        info = Config.fromfile(cand).get('dataset_info')
        if info is None:
            continue
        parsed = parse_pose_metainfo(info)
        sigmas = np.asarray(info['sigmas'], dtype=np.float64)
        if sigmas.shape != (parsed['num_keypoints'], ):
            raise ValueError(f'{cand}: {sigmas.size} sigmas for '
                             f"{parsed['num_keypoints']} keypoints")
        return sigmas
    raise FileNotFoundError(
        f'OKSKeypointLoss: no dataset metainfo (a file defining '
        f'`dataset_info`) at "{path}" (cwd: {osp.abspath(".")}) nor at '
        f'"{candidates[1]}". Fix: give an existing dataset metainfo config, '
        "e.g. metainfo='configs/_base_/datasets/coco.py', or the sigmas "
        'directly with `sigmas=[...]`.')


@MODELS.register_module()
class OKSKeypointLoss(nn.Module):
    r"""OKS loss whose per-instance OKS is exactly pycocotools' ``computeOks``.

    For an instance with keypoints :math:`g_k`, weights :math:`w_k` (the
    visibility), area :math:`A` and per-keypoint sigmas :math:`s_k`:

    .. math::

        e_k = \frac{\lVert p_k - g_k \rVert^2}{2 (A + \epsilon) (2 s_k)^2},
        \qquad
        \mathrm{OKS} = \frac{\sum_k w_k e^{-e_k}}{\sum_k w_k}

    which for 0/1 weights is the COCO metric (``epsilon = np.spacing(1)`` as
    in pycocotools). The loss is ``1 - OKS`` (``linear``), ``1 - OKS^2``
    (``square``) or ``-log OKS`` (``log``; computed as a log-sum-exp, so it
    stays finite and keeps a gradient however far off the prediction is).

    Differences from YOLO-Pose's original code, which uses the exponent
    :math:`d^2 / (4 s^2 A)` (twice as sharp as the metric) and averages
    ``1 - exp(-e_k)`` over all visible keypoints of a level: this loss follows
    the metric and averages per instance (see ``reduction``).

    Edge cases: an instance without any keypoint of positive weight gets loss
    0 and no gradient (instead of pycocotools' box-distance fallback, which
    has nothing to learn from); a zero area gives finite values (the OKS is 1
    at the exact position and 0 elsewhere); exponents are clamped below the
    largest finite value of the dtype, so a far-off prediction never yields
    ``inf`` or ``NaN``.

    Note:
        - instances: N
        - keypoints: K

        Paper: YOLO-Pose, https://arxiv.org/abs/2204.06806 (OKS loss);
        metric: https://cocodataset.org/#keypoints-eval.

    Args:
        metainfo (str, optional): A dataset metainfo config file (as
            mmpose's ``OKSLoss``, e.g. ``'configs/_base_/datasets/coco.py'``),
            read with mmpose's ``parse_pose_metainfo``; its ``sigmas`` are
            used. Ignored when ``sigmas`` is given.
        sigmas (Sequence[float], optional): Per-keypoint sigmas, length K.
            One of ``metainfo`` and ``sigmas`` must be given.
        mode (str): ``'linear'``, ``'square'`` or ``'log'``.
        reduction (str): ``'none'`` (per instance, shape (N,)), ``'sum'``, or
            ``'mean'`` (over the instances that have at least one keypoint of
            positive weight; 0 when there is none).
        loss_weight (float): Multiplier of the loss.
        area_eps (float): Added to the area, as pycocotools does.
    """

    def __init__(self,
                 metainfo: Optional[str] = None,
                 sigmas: Optional[Sequence[float]] = None,
                 mode: str = 'linear',
                 reduction: str = 'mean',
                 loss_weight: float = 1.0,
                 area_eps: float = COCO_AREA_EPS) -> None:
        super().__init__()
        if mode not in ('linear', 'square', 'log'):
            raise ValueError(f"OKSKeypointLoss: mode must be 'linear', "
                             f"'square' or 'log', got {mode!r}")
        check_reduction('OKSKeypointLoss', reduction)
        if sigmas is None:
            if metainfo is None:
                raise ValueError(
                    'OKSKeypointLoss needs the keypoint sigmas: give '
                    "`metainfo='configs/_base_/datasets/<dataset>.py'` or "
                    '`sigmas=[...]`.')
            sigmas = _metainfo_sigmas(metainfo)
        sigmas_t = torch.as_tensor(np.asarray(sigmas, dtype=np.float64))
        if sigmas_t.ndim != 1 or sigmas_t.numel() == 0 or not bool(
                (sigmas_t > 0).all()):
            raise ValueError('OKSKeypointLoss: sigmas must be a non-empty 1-D '
                             f'list of positive numbers, got {sigmas}')
        # float64 so that a float64 forward matches pycocotools bit for bit
        self.register_buffer('sigmas', sigmas_t)
        self.mode = mode
        self.reduction = reduction
        self.loss_weight = loss_weight
        self.area_eps = area_eps

    @property
    def num_keypoints(self) -> int:
        return self.sigmas.numel()

    def _weights(self, output: Tensor, target: Tensor,
                 target_weight: Optional[Tensor], areas: Tensor) -> Tensor:
        """The checked (N, K) weights (see :func:`keypoint_weights`)."""
        w = keypoint_weights('OKSKeypointLoss', output, target, target_weight)
        k = self.num_keypoints
        if output.shape[-1] != 2:
            raise ValueError('OKSKeypointLoss: output must be (N, K, 2), got '
                             f'{tuple(output.shape)}')
        if output.shape[1] != k:
            raise ValueError(
                f'OKSKeypointLoss: got {output.shape[1]} keypoints but the '
                f'sigmas have {k} (from the metainfo or `sigmas`). Fix: use '
                'the metainfo of the dataset the head predicts.')
        if areas.shape != output.shape[:1]:
            raise ValueError('OKSKeypointLoss: areas must be (N,) = '
                             f'({output.shape[0]},), got {tuple(areas.shape)}')
        return w

    def exponents(self, output: Tensor, target: Tensor,
                  areas: Tensor) -> Tensor:
        """The per-keypoint exponents ``e_k`` of the OKS, shape (N, K)."""
        sigmas = self.sigmas.to(output.dtype)
        sq_dist = (output - target).pow(2).sum(-1)
        scale = 8.0 * sigmas.pow(2)[None] * (
            areas.to(output.dtype).clamp(min=0) + self.area_eps)[:, None]
        e = sq_dist / scale
        # far-off predictions: finite exponent (exp(-e) is 0 there anyway)
        return e.clamp(max=torch.finfo(e.dtype).max / 16)

    def oks(self, output: Tensor, target: Tensor, target_weight: Tensor,
            areas: Tensor) -> Tensor:
        """Per-instance OKS, shape (N,); 0 for instances without weight."""
        w = self._weights(output, target, target_weight, areas)
        e = self.exponents(output, target, areas)
        return (w * torch.exp(-e)).sum(-1) / w.sum(-1).clamp(
            min=torch.finfo(output.dtype).tiny)

    def forward(self,
                output: Tensor,
                target: Tensor,
                target_weight: Optional[Tensor] = None,
                areas: Optional[Tensor] = None) -> Tensor:
        """Compute the loss.

        Args:
            output (Tensor): Predicted keypoints, (N, K, 2).
            target (Tensor): Ground-truth keypoints, (N, K, 2).
            target_weight (Tensor, optional): Keypoint weights / visibility,
                (N, K); all ones when None.
            areas (Tensor): Instance areas (COCO ``area``, or box ``w * h``)
                in the squared unit of the coordinates, (N,).

        Returns:
            Tensor: Per-instance loss (N,) for ``reduction='none'``, else a
            scalar.
        """
        if areas is None:
            raise ValueError('OKSKeypointLoss needs `areas` (N,): the OKS is '
                             'normalised by the instance area.')
        w = self._weights(output, target, target_weight, areas)
        valid = w.sum(-1) > 0
        # rows without weight compute a dummy OKS (uniform weights) that is
        # masked out below; this keeps log-sum-exp away from log(0)
        w = torch.where(valid[:, None], w, torch.ones_like(w))
        e = self.exponents(output, target, areas)

        if self.mode == 'log':
            log_w = torch.where(w > 0, w.clamp(min=1e-30).log(),
                                torch.full_like(w, float('-inf')))
            log_oks = torch.logsumexp(log_w - e, dim=-1) - w.sum(-1).log()
            loss = -log_oks
        else:
            oks = (w * torch.exp(-e)).sum(-1) / w.sum(-1)
            loss = 1 - oks if self.mode == 'linear' else 1 - oks.pow(2)
        loss = torch.where(valid, loss, torch.zeros_like(loss))

        if self.reduction == 'sum':
            loss = loss.sum()
        elif self.reduction == 'mean':
            loss = loss.sum() / valid.sum().clamp(min=1).to(loss.dtype)
        return loss * self.loss_weight

    def extra_repr(self) -> str:
        return (f'num_keypoints={self.num_keypoints}, mode={self.mode!r}, '
                f'reduction={self.reduction!r}, '
                f'loss_weight={self.loss_weight}')

