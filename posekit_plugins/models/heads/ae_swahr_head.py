"""Bottom-up associative-embedding head with the SWAHR scale branch."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpose.models.heads import AssociativeEmbeddingHead
from mmpose.registry import MODELS
from mmpose.utils.typing import (
    ConfigType,
    Features,
    OptConfigType,
    OptSampleList,
    Predictions,
)
from torch import Tensor

from .swahr_head import ScaleBranchMixin, build_scale_branch, feature_channels

OptIntSeq = Optional[Sequence[int]]


@MODELS.register_module()
class AESWAHRHead(ScaleBranchMixin, AssociativeEmbeddingHead):
    """Associative embedding (`AE`_) head trained with `SWAHR`_, as the
    SWAHR paper's bottom-up models.

    mmpose's ``AssociativeEmbeddingHead`` predicts K heatmaps and K*L tag
    maps from one final conv; this head adds the SWAHR scale branch (1x1
    conv, BN, ReLU, 9x9 depthwise conv, last conv zero-initialised, no
    activation) on the same features. Training: the heatmaps, their scales,
    the targets and the ignore mask ``gt_fields.heatmap_mask`` (crowd /
    unlabelled people, see ``BottomupGetIgnoreMask``) go to ``keypoint_loss``
    (default :class:`SWAHRLoss`), the tags and
    ``gt_instance_labels.keypoint_indices`` (packed by
    ``AssociativeEmbeddingDARK``) to ``tag_loss`` (mmpose's
    ``AssociativeEmbeddingLoss``). Testing is mmpose's ``predict`` (flip and
    multi-scale aggregation, decoding by the codec); the scale branch is not
    run.

    Unlike mmpose's head, the keypoint loss gets no keypoint weights: they
    are per person, (N, K), while the bottom-up heatmaps are per image,
    (B, K, H, W) (mmpose passes them to ``KeypointMSELoss``, whose shape
    check then fails as soon as an image holds other than one person).
    Unlabelled keypoints have no Gaussian; unlabelled people are masked.

    Note:
        - batch size: B
        - number of keypoints: K
        - tag dimension: L
        - heatmap height, width: H, W

        ``forward`` returns heatmaps (B, K, H, W) and tags (B, K*L, H, W) (or
        (B, L, H, W) without ``tag_per_keypoint``); ``forward_train`` returns
        heatmaps, tags and scales (B, K, H, W).

    Args:
        scale_kernel_size (int): Depthwise kernel of the scale branch.
            Defaults to 9.
        keypoint_loss (Config): Heatmap loss with SWAHRLoss's signature.
        tag_loss (Config): Tag loss. Defaults to mmpose's
            ``AssociativeEmbeddingLoss``.
        Others: As mmpose's ``AssociativeEmbeddingHead``.

    .. _`AE`: https://arxiv.org/abs/1611.05424
    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 num_keypoints: int,
                 tag_dim: int = 1,
                 tag_per_keypoint: bool = True,
                 deconv_out_channels: OptIntSeq = (256, 256, 256),
                 deconv_kernel_sizes: OptIntSeq = (4, 4, 4),
                 conv_out_channels: OptIntSeq = None,
                 conv_kernel_sizes: OptIntSeq = None,
                 final_layer: dict = dict(kernel_size=1),
                 scale_kernel_size: int = 9,
                 keypoint_loss: ConfigType = dict(type='SWAHRLoss'),
                 tag_loss: ConfigType = dict(type='AssociativeEmbeddingLoss'),
                 decoder: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        super().__init__(
            in_channels=in_channels,
            num_keypoints=num_keypoints,
            tag_dim=tag_dim,
            tag_per_keypoint=tag_per_keypoint,
            deconv_out_channels=deconv_out_channels,
            deconv_kernel_sizes=deconv_kernel_sizes,
            conv_out_channels=conv_out_channels,
            conv_kernel_sizes=conv_kernel_sizes,
            final_layer=final_layer,
            keypoint_loss=keypoint_loss,
            tag_loss=tag_loss,
            decoder=decoder,
            init_cfg=init_cfg)
        self.scale_layers = build_scale_branch(
            feature_channels(in_channels, deconv_out_channels,
                             conv_out_channels), num_keypoints,
            scale_kernel_size)

    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """mmpose's ``AssociativeEmbeddingHead.predict`` (the scale branch is
        not run), which without flip or multi-scale test asserts a *list* of
        tensors while backbones (HRNet, ResNet) return a tuple."""
        if isinstance(feats, tuple) and not test_cfg.get(
                'flip_test', False) and not test_cfg.get(
                    'multiscale_test', False):
            feats = list(feats)
        return super().predict(feats, batch_data_samples, test_cfg)

    def forward_train(self,
                      feats: Tuple[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """Heatmaps, tags and scale maps from shared features."""
        x = self._features(feats)
        out = self.final_layer(x)
        K = self.num_keypoints
        return out[:, :K], out[:, K:], self.scale_layers(x)

    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Compute ``loss_kpt``, ``loss_scale`` (SWAHR) and ``loss_pull``,
        ``loss_push`` (AE)."""
        heatmaps, tags, scales = self.forward_train(feats)
        if not self.tag_per_keypoint:
            tags = tags.repeat((1, self.num_keypoints, 1, 1))

        gt_heatmaps = torch.stack(
            [d.gt_fields.heatmaps for d in batch_data_samples])
        has_mask = ['heatmap_mask' in d.gt_fields for d in batch_data_samples]
        if any(has_mask) and not all(has_mask):
            raise ValueError('heatmap_mask is missing on some data samples')
        masks = torch.stack(
            [d.gt_fields.heatmap_mask
             for d in batch_data_samples]) if all(has_mask) else None
        keypoint_indices = []
        for d in batch_data_samples:
            if 'keypoint_indices' not in d.gt_instance_labels:
                raise KeyError(
                    'gt_instance_labels.keypoint_indices is missing: encode '
                    'with a codec that packs it (AssociativeEmbeddingDARK)')
            keypoint_indices.append(d.gt_instance_labels.keypoint_indices)

        out = self.loss_module.keypoint_loss(heatmaps, gt_heatmaps, scales,
                                             None, masks)
        losses = dict(out) if isinstance(out, dict) else dict(loss_kpt=out)
        loss_pull, loss_push = self.loss_module.tag_loss(
            tags, keypoint_indices)
        losses.update(loss_pull=loss_pull, loss_push=loss_push)
        return losses
