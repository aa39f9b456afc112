"""Mean Euclidean distance between keypoints: KAPAO's keypoint loss."""
from typing import Optional

import torch
import torch.nn as nn
from mmpose.registry import MODELS
from torch import Tensor

from .keypoint_inputs import check_reduction, keypoint_weights


@MODELS.register_module()
class KeypointDistanceLoss(nn.Module):
    r"""Weighted mean of the (unsquared) Euclidean keypoint distance.

    .. math::

        L = \frac{\sum_{n,k} w_{nk} \lVert p_{nk} - g_{nk} \rVert_2}
                 {\sum_{n,k} w_{nk}}

    With 0/1 weights (the visibility) this is KAPAO's keypoint loss: the
    mean, over all visible keypoints of the pose-object positives of a
    level, of the distance in grid units. It has the call signature of
    :class:`OKSKeypointLoss` (``areas`` is accepted and ignored), so a head
    can swap one for the other in its config.

    Edge cases: no keypoint of positive weight gives 0 (the original skips
    the term); the gradient at zero distance is 0, not NaN.

    Note:
        - instances: N; keypoints: K

        KAPAO: https://arxiv.org/abs/2111.08557

    Args:
        reduction (str): ``'mean'`` (over the weighted keypoints, above),
            ``'sum'`` (weighted sum) or ``'none'`` (weighted (N, K)).
        loss_weight (float): Factor on the loss.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0):
        super().__init__()
        check_reduction(type(self).__name__, reduction)
        self.reduction = reduction
        self.loss_weight = loss_weight

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
            areas (Tensor, optional): Ignored (interface of
                :class:`OKSKeypointLoss`).

        Returns:
            Tensor: A scalar, or (N, K) for ``reduction='none'``.
        """
        w = keypoint_weights(type(self).__name__, output, target,
                             target_weight)
        # invisible targets may hold anything (NaN included): mask before the
        # norm so that neither the value nor the gradient sees them
        diff = torch.where(w[..., None] > 0, output - target,
                           torch.zeros_like(output))
        dist = torch.linalg.vector_norm(diff, dim=-1) * w
        if self.reduction == 'none':
            loss = dist
        elif self.reduction == 'sum':
            loss = dist.sum()
        else:
            loss = dist.sum() / w.sum().clamp(min=torch.finfo(w.dtype).tiny)
        return loss * self.loss_weight
