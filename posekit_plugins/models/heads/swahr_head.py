"""Top-down heatmap head with the SWAHR scale branch."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpose.models.heads import HeatmapHead
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType, OptSampleList
from torch import Tensor, nn

from ...codecs.dark_refinement import get_heatmap_maximum_torch

OptIntSeq = Optional[Sequence[int]]


def build_scale_branch(in_channels: int, num_keypoints: int,
                       kernel_size: int = 9) -> nn.Sequential:
    """The SWAHR scale branch: 1x1 conv -> BN -> ReLU -> depthwise conv.

    The last conv starts at zero (scale 0, i.e. the unscaled target) and has
    no activation after it: the scale may be negative (wider Gaussian).
    """
    if kernel_size % 2 != 1:
        raise ValueError(f'scale_kernel_size must be odd, got {kernel_size}')
    branch = nn.Sequential(
        nn.Conv2d(in_channels, num_keypoints, kernel_size=1),
        nn.BatchNorm2d(num_keypoints),
        nn.ReLU(inplace=True),
        nn.Conv2d(
            num_keypoints,
            num_keypoints,
            kernel_size=kernel_size,
            padding=kernel_size // 2,
            groups=num_keypoints),
    )
    zero_last_conv(branch)
    return branch


def zero_last_conv(branch: nn.Sequential) -> None:
    """Zero the weight and bias of the branch's last conv."""
    nn.init.zeros_(branch[-1].weight)
    nn.init.zeros_(branch[-1].bias)


def pck_accuracy_torch(output: Tensor, target: Tensor, mask: Tensor,
                       thr: float = 0.05) -> Tensor:
    """mmpose's ``pose_pck_accuracy(...)[1]`` (the average PCK of heatmap
    argmaxes) in torch, on the heatmaps' device, without a host sync.

    As mmpose: argmax locations (first maximum; -1 where the maximum is not
    positive), distances normalised by ``(H, W)`` applied to ``(x, y)``,
    per-keypoint accuracy over the instances of ``mask``, averaged over the
    keypoints that have any; 0 when none has.

    Note:
        ``output`` and ``target`` are (N, K, H, W), ``mask`` is (N, K) bool.

    Returns:
        Tensor: scalar float32 on the device of ``output``.
    """
    H, W = output.shape[-2:]
    d = (get_heatmap_maximum_torch(output.detach())[0].double() -
         get_heatmap_maximum_torch(target.detach())[0].double())
    # float64 distances rounded to float32 before the comparison, as mmpose
    dist = torch.stack((d[..., 0] / H, d[..., 1] / W), dim=-1).norm(dim=-1)
    hit = (dist.float() < thr) & mask
    cnt = mask.sum(dim=0)
    has = cnt > 0
    acc_k = hit.sum(dim=0) / cnt.clamp(min=1)
    return ((acc_k * has).sum() / has.sum().clamp(min=1)).float()


def feature_channels(in_channels: Union[int, Sequence[int]],
                     deconv_out_channels: OptIntSeq,
                     conv_out_channels: OptIntSeq) -> int:
    """Channels of the features that a ``HeatmapHead``'s final layer reads."""
    if conv_out_channels:
        return conv_out_channels[-1]
    if deconv_out_channels:
        return deconv_out_channels[-1]
    return in_channels if isinstance(in_channels, int) else in_channels[-1]


class ScaleBranchMixin:
    """Shared by the SWAHR heads: features before the final layer, and an
    ``init_weights`` that leaves the scale branch's last conv at zero.

    The host is a ``HeatmapHead`` subclass with a ``scale_layers`` branch.
    """

    def init_weights(self) -> None:
        """Initialise as the parent head, then zero the scale branch's last
        conv, unless this is a repeated call (weights may be trained) or the
        head loads a pretrained checkpoint of its own."""
        repeated = self.is_init
        super().init_weights()
        cfgs = self.init_cfg if isinstance(self.init_cfg, list) else [
            self.init_cfg
        ]
        pretrained = any(
            isinstance(c, dict) and c.get('type') == 'Pretrained'
            for c in cfgs)
        if not repeated and not pretrained:
            zero_last_conv(self.scale_layers)

    def _features(self, feats: Tuple[Tensor]) -> Tensor:
        x = feats[-1]
        x = self.deconv_layers(x)
        return self.conv_layers(x)


@MODELS.register_module()
class SWAHRHead(ScaleBranchMixin, HeatmapHead):
    """mmpose's ``HeatmapHead`` plus the scale branch of `SWAHR`_.

    The scale branch reads the same features as the head's final layer and
    predicts one scale map per keypoint. In training, heatmaps and scales go
    to the loss (default :class:`SWAHRLoss`) together with the encoded
    fixed-sigma targets and keypoint weights; at test time only the heatmaps
    are computed (``forward``/``predict`` are those of ``HeatmapHead``), so
    any heatmap codec decodes them (mmpose's ``MSRAHeatmap``, our
    ``DARKHeatmap``, ...).

    The last conv of the scale branch is zero at construction and again after
    ``init_weights`` (the head's default ``Normal`` init of every ``Conv2d``
    would otherwise overwrite it), so training starts from ``s = 0``.

    Note:
        - batch size: B
        - number of keypoints: K (``out_channels``)
        - heatmap height, width: H, W

        ``forward`` returns heatmaps (B, K, H, W); ``forward_train`` returns
        (heatmaps, scales), both (B, K, H, W). The loss is called as
        ``loss(heatmaps, gt_heatmaps, scales, keypoint_weights, mask)`` with
        keypoint weights (B, K) and the optional ``gt_fields.heatmap_mask``
        of the data samples stacked to (B, 1, H, W) or (B, K, H, W).

    Args:
        in_channels, out_channels, deconv_out_channels, deconv_kernel_sizes,
            conv_out_channels, conv_kernel_sizes, final_layer, decoder,
            init_cfg: As in ``HeatmapHead``.
        scale_kernel_size (int): Kernel of the depthwise conv of the scale
            branch. Defaults to 9 (the authors' code).
        loss (Config): A loss taking ``(output, target, scales,
            target_weights, mask)`` and returning a dict of losses (or one
            tensor, logged as ``loss_kpt``). Defaults to ``SWAHRLoss``.

    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 out_channels: int,
                 deconv_out_channels: OptIntSeq = (256, 256, 256),
                 deconv_kernel_sizes: OptIntSeq = (4, 4, 4),
                 conv_out_channels: OptIntSeq = None,
                 conv_kernel_sizes: OptIntSeq = None,
                 final_layer: Optional[dict] = dict(kernel_size=1),
                 scale_kernel_size: int = 9,
                 loss: ConfigType = dict(
                     type='SWAHRLoss', use_target_weight=True),
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(
            in_channels=in_channels,
            out_channels=out_channels,
            deconv_out_channels=deconv_out_channels,
            deconv_kernel_sizes=deconv_kernel_sizes,
            conv_out_channels=conv_out_channels,
            conv_kernel_sizes=conv_kernel_sizes,
            final_layer=final_layer,
            loss=loss,
            decoder=decoder,
            init_cfg=init_cfg)
        self.scale_layers = build_scale_branch(
            feature_channels(in_channels, deconv_out_channels,
                             conv_out_channels), out_channels,
            scale_kernel_size)

    def forward_train(self, feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor]:
        """Heatmaps and scale maps from shared features."""
        x = self._features(feats)
        return self.final_layer(x), self.scale_layers(x)

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Compute the SWAHR losses (and ``acc_pose``, as ``HeatmapHead``).

        Returns:
            dict: the loss module's parts (``loss_kpt``, ``loss_scale`` for
            ``SWAHRLoss``) and, if ``train_cfg['compute_acc']`` (default
            True), ``acc_pose``.
        """
        pred_heatmaps, pred_scales = self.forward_train(feats)
        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        keypoint_weights = torch.cat([
            d.gt_instance_labels.keypoint_weights for d in batch_data_samples
        ])
        mask = None
        if all('heatmap_mask' in d.gt_fields for d in batch_data_samples):
            mask = torch.stack(
                [d.gt_fields.heatmap_mask for d in batch_data_samples])

        out = self.loss_module(pred_heatmaps, gt_heatmaps, pred_scales,
                               keypoint_weights, mask)
        losses = dict(out) if isinstance(out, dict) else dict(loss_kpt=out)

        if train_cfg.get('compute_acc', True):
            # HeatmapHead's metric, computed on the device (no host sync)
            losses.update(acc_pose=pck_accuracy_torch(
                pred_heatmaps, gt_heatmaps, keypoint_weights > 0))
        return losses
