"""SWAHR: scale-adaptive and weight-adaptive heatmap regression loss."""
from typing import Dict, Optional

import torch
from mmpose.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class SWAHRLoss(nn.Module):
    """Scale- and weight-adaptive heatmap loss of `SWAHR`_ (Luo et al., 2021).

    With ``G`` the fixed-sigma ground-truth heatmaps, ``P`` the predicted
    heatmaps, ``s`` the predicted scale maps, ``M`` the pixel mask (ignore mask
    and/or keypoint weights) and ``s_m = s * [G > 0]``::

        G_s = G + G ln(G) s_m + 1/2 G ln(G)^2 s_m^2
        W   = |1 - P| G^gamma + |P| (1 - G^gamma)
        loss_kpt   = loss_weight       * mean_{b,k,y,x} (P - G_s)^2 W M
        loss_scale = scale_loss_weight * mean_{b,k,y,x} s_m^2 M

    where ``ln G`` is taken as 0 where ``G = 0``. ``G_s`` is the second-order
    Taylor expansion of ``G^(1 + s_m)`` around ``s_m = 0``, i.e. a Gaussian of
    width ``sigma_0 / sqrt(1 + s_m)``: a positive scale sharpens the target, a
    negative one widens it.

    Paper vs code: this module follows the authors' code
    (greatlog/SWAHR-HumanPose, ``HeatmapLoss``/``ScaleLoss``), not the paper.
    The paper writes the scaled target as the exponent ``G^(1 + s)`` and the
    weight with the scaled target (``H^gamma``); the code, and this module,
    use the Taylor form above, compute ``W`` on the *unscaled* ``G`` and
    regularise with ``s_m^2``. As in the code, nothing is detached: the
    heatmap loss trains the scale map through ``G_s`` and ``W`` passes its
    gradient to ``P``.

    Targets drawn over the whole map (mmpose's ``MSRAHeatmap(unbiased=True)``,
    our ``DARKHeatmap``) have ``G > 0`` far from every keypoint, where
    ``G^0.01`` is not small (``G = 1e-30`` gives 0.5): the weighting would no
    longer treat those pixels as background. ``fg_threshold`` restores the
    truncated Gaussians' split (the code's targets end at 3 sigma): pixels
    with ``G <= fg_threshold`` count as background for ``s_m``, ``ln G`` and
    ``G^gamma`` (the target ``G`` itself is not changed). ``exp(-4.5)``
    (about 0.0111, the value at 3 sigma) matches the 3-sigma support.

    ``gamma = 0`` does *not* switch the weighting off: it gives
    ``W = |1 - P|`` on the foreground and ``W = |P|`` on the background (the
    limit gamma -> 0+; ``G^gamma`` is taken as 0 where ``G = 0``). Pass
    ``gamma=None`` for ``W = 1``; with ``s = 0`` the heatmap part is then the
    plain masked MSE of mmpose's ``KeypointMSELoss``
    (``use_target_weight=True``).

    Note:
        - batch size: B
        - number of keypoints: K
        - heatmap height, width: H, W

        ``output``, ``target`` and ``scales`` are (B, K, H, W). The
        ``target_weights`` are (B, K) keypoint weights (top-down) or
        (B, K, H, W) pixel weights; ``mask`` is a (B, H, W), (B, 1, H, W) or
        (B, K, H, W) ignore mask (bottom-up; 0 on crowd/unlabelled pixels).
        Both may be given; they multiply. ``target`` is expected in [0, 1];
        pixels with ``G <= fg_threshold`` count as background.

    Args:
        gamma (float, optional): Exponent of the weight-adaptive factor
            (code and paper: 0.01). ``None`` sets ``W = 1``.
        use_target_weight (bool): Use ``target_weights`` when given.
            Defaults to ``True``.
        loss_weight (float): Weight of the heatmap part. Defaults to 1.0.
        scale_loss_weight (float): Weight of the scale regulariser.
            Defaults to 1.0 (as in the code).
        fg_threshold (float): Pixels with ``G <= fg_threshold`` are
            background. Defaults to 0.0 (the code's ``G > 0``).

    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    def __init__(self,
                 gamma: Optional[float] = 0.01,
                 use_target_weight: bool = True,
                 loss_weight: float = 1.0,
                 scale_loss_weight: float = 1.0,
                 fg_threshold: float = 0.0) -> None:
        super().__init__()
        if gamma is not None and gamma < 0:
            raise ValueError(f'gamma must be >= 0 or None, got {gamma}')
        if not 0 <= fg_threshold < 1:
            raise ValueError(
                f'fg_threshold must be in [0, 1), got {fg_threshold}')
        self.fg_threshold = fg_threshold
        self.gamma = gamma
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight
        self.scale_loss_weight = scale_loss_weight

    def forward(self,
                output: Tensor,
                target: Tensor,
                scales: Tensor,
                target_weights: Optional[Tensor] = None,
                mask: Optional[Tensor] = None) -> Dict[str, Tensor]:
        """Compute both parts of the loss.

        Args:
            output (Tensor): Predicted heatmaps ``P``, (B, K, H, W).
            target (Tensor): Fixed-sigma target heatmaps ``G``, (B, K, H, W).
            scales (Tensor): Predicted scale maps ``s``, (B, K, H, W).
            target_weights (Tensor, optional): (B, K) or (B, K, H, W).
            mask (Tensor, optional): (B, H, W), (B, 1, H, W) or (B, K, H, W).

        Returns:
            dict: ``loss_kpt`` (heatmap part) and ``loss_scale`` (scale
            regulariser), both scalar tensors already multiplied by their
            loss weights.
        """
        if output.ndim != 4:
            raise ValueError(
                f'output must be (B, K, H, W), got shape {tuple(output.shape)}')
        if target.shape != output.shape or scales.shape != output.shape:
            raise ValueError(
                'output, target and scales must have the same (B, K, H, W) '
                f'shape, got {tuple(output.shape)}, {tuple(target.shape)} '
                f'and {tuple(scales.shape)}')
        pix_mask = self._pixel_mask(target, target_weights, mask)

        fg = target > self.fg_threshold
        s_m = scales * fg
        # ln G := 0 on the background keeps the expansion (and its gradient)
        # finite there; G = 0 zeroes those terms anyway.
        log_g = torch.where(fg, target, torch.ones_like(target)).log()
        g_log = target * log_g
        scaled_target = target + g_log * s_m + 0.5 * g_log * log_g * s_m.square()

        sq_err = (output - scaled_target).square()
        if self.gamma is not None:
            # G^gamma on the unscaled target (code), 0 on the background
            # (also for gamma = 0: the limit gamma -> 0+, not 0^0 = 1)
            g_pow = target.clamp(min=0).pow(self.gamma) * fg
            weight = (1 - output).abs() * g_pow + output.abs() * (1 - g_pow)
            sq_err = sq_err * weight
        reg = s_m.square()
        if pix_mask is not None:
            sq_err = sq_err * pix_mask
            reg = reg * pix_mask

        return dict(
            loss_kpt=sq_err.mean() * self.loss_weight,
            loss_scale=reg.mean() * self.scale_loss_weight)

    def _pixel_mask(self, target: Tensor, target_weights: Optional[Tensor],
                    mask: Optional[Tensor]) -> Optional[Tensor]:
        """Combine keypoint weights and the ignore mask into one tensor that
        broadcasts against (B, K, H, W); ``None`` when neither is used."""
        B, K, H, W = target.shape
        out = None
        if target_weights is not None and self.use_target_weight:
            if target_weights.shape == (B, K):
                out = target_weights.reshape(B, K, 1, 1)
            elif target_weights.shape == (B, K, H, W):
                out = target_weights
            else:
                raise ValueError(
                    'target_weights must be (B, K) or (B, K, H, W) = '
                    f'{(B, K)} or {(B, K, H, W)}, got '
                    f'{tuple(target_weights.shape)}')
        if mask is not None:
            if mask.shape == (B, H, W):
                mask = mask.unsqueeze(1)
            elif mask.shape not in ((B, 1, H, W), (B, K, H, W)):
                raise ValueError(
                    'mask must be (B, H, W), (B, 1, H, W) or (B, K, H, W) '
                    f'for target {(B, K, H, W)}, got {tuple(mask.shape)}')
            mask = mask.to(target.dtype)
            out = mask if out is None else out * mask
        return out
