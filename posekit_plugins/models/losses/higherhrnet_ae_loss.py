"""Associative embedding (tag) loss averaged over the images of a batch, as
HigherHRNet / SWAHR train it."""
from typing import List, Sequence, Tuple, Union

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class HigherHRNetAELoss(nn.Module):
    """Associative embedding loss (`AE`_) as `HigherHRNet`_ and `SWAHR`_
    compute it: per image, then **averaged** over the batch.

    For one image with ``N`` people that have at least one labelled keypoint,
    ``t_nk`` the predicted tag (L values) of person n's keypoint k and
    ``m_n`` the mean of person n's tags::

        pull = 1/N sum_n mean_{k labelled, l} (t_nkl - m_nl)^2
        push = 1/(N (N - 1)) * 1/2 * sum_{n != n'} exp(-|m_n - m_n'|^2)
                                                     (loss_type='exp')
        push = 1/(N (N - 1)) * 1/2 * sum_{n != n'} max(0, 1 - |m_n - m_n'|)
                                                     (loss_type='max')

    ``push`` is 0 for N < 2 and both are 0 for N = 0 (the image still counts
    in the batch mean, as in the authors' code).

    Differences from mmpose's ``AssociativeEmbeddingLoss``: mmpose *sums*
    the per-image losses over the batch (a batch of 2 identical images gives
    twice the loss of one), includes the diagonal ``n = n'`` in the push sum
    (a constant ``1/(N-1)`` with no gradient) and adds ``eps`` to the
    normalisers.

    Note:
        - batch size: B
        - instance number: N (per image)
        - keypoint number: K
        - tag dimension: L
        - heatmap height, width: H, W

        ``tags`` are (B, K*L, H, W) (mmpose's layout, L-major: channel
        ``l * K + k``); ``keypoint_indices`` is a (B, N, K, 2) tensor or a
        list of B (N_i, K, 2) tensors of ``[y * W + x, valid]``.

    Args:
        loss_type (str): ``'exp'`` (the configs' ``AE_LOSS_TYPE``) or
            ``'max'``.
        pull_loss_factor (float): Weight of the pull loss (code: 0.001).
        push_loss_factor (float): Weight of the push loss (code: 0.001).

    .. _`AE`: https://arxiv.org/abs/1611.05424
    .. _`HigherHRNet`: https://arxiv.org/abs/1908.10357
    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    def __init__(self,
                 loss_type: str = 'exp',
                 pull_loss_factor: float = 0.001,
                 push_loss_factor: float = 0.001) -> None:
        super().__init__()
        if loss_type not in ('exp', 'max'):
            raise ValueError(f"loss_type must be 'exp' or 'max', got "
                             f'{loss_type!r}')
        self.loss_type = loss_type
        self.pull_loss_factor = pull_loss_factor
        self.push_loss_factor = push_loss_factor

    def _per_image(self, tags: Tensor, indices: Tensor) -> Tuple[Tensor,
                                                                 Tensor]:
        C, H, W = tags.shape
        zero = tags.sum() * 0
        if indices.numel() == 0:
            return zero, zero
        indices = indices.to(tags.device).long()
        N, K, _ = indices.shape
        if C % K != 0:
            raise ValueError(f'{C} tag channels for {K} keypoints')
        L = C // K
        flat = tags.reshape(L, K, H * W)
        pos = indices[..., 0].clamp(0, H * W - 1)
        valid = indices[..., 1] > 0
        kpt = torch.arange(K, device=tags.device).expand(N, K)
        picked = flat[:, kpt, pos].permute(1, 2, 0)  # (N, K, L)
        cnt = valid.sum(dim=1)
        has = cnt > 0
        n = int(has.sum())
        if n == 0:
            return zero, zero
        v = valid[has].unsqueeze(-1).to(tags.dtype)
        picked = picked[has]
        mean = (picked * v).sum(dim=1) / cnt[has].unsqueeze(-1)
        sq = ((picked - mean.unsqueeze(1)).square() * v).sum(dim=(1, 2))
        pull = (sq / (cnt[has] * L)).sum() / n
        if n < 2:
            return pull, zero
        if self.loss_type == 'exp':
            d2 = (mean.unsqueeze(0) - mean.unsqueeze(1)).square().sum(-1)
            push = torch.exp(-d2).sum() - n
        else:
            d = (mean.unsqueeze(0) - mean.unsqueeze(1)).square().sum(
                -1).clamp(min=1e-12).sqrt()
            off = ~torch.eye(n, dtype=torch.bool, device=tags.device)
            push = ((1 - d).clamp(min=0) * off).sum()
        return pull, push / ((n - 1) * n) * 0.5

    def forward(self, tags: Tensor,
                keypoint_indices: Union[Tensor, Sequence[Tensor]]
                ) -> Tuple[Tensor, Tensor]:
        """Compute the pull and push losses of a batch.

        Args:
            tags (Tensor): (B, K*L, H, W).
            keypoint_indices (Tensor | list[Tensor]): (B, N, K, 2) or B
                tensors (N_i, K, 2).

        Returns:
            tuple: ``(pull_loss, push_loss)``, scalars, already multiplied by
            their factors and averaged over the B images.
        """
        if tags.ndim != 4:
            raise ValueError(
                f'tags must be (B, C, H, W), got {tuple(tags.shape)}')
        if len(keypoint_indices) != tags.shape[0]:
            raise ValueError(f'{len(keypoint_indices)} keypoint_indices for '
                             f'a batch of {tags.shape[0]}')
        pulls: List[Tensor] = []
        pushes: List[Tensor] = []
        for t, idx in zip(tags, keypoint_indices):
            pull, push = self._per_image(t, torch.as_tensor(idx))
            pulls.append(pull)
            pushes.append(push)
        return (torch.stack(pulls).mean() * self.pull_loss_factor,
                torch.stack(pushes).mean() * self.push_loss_factor)
