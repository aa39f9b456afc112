"""HigherHRNet head (1/4 and 1/2 outputs), with or without SWAHR."""
import warnings
from typing import List, Optional, Sequence, Tuple, Union

import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.models.backbones.resnet import BasicBlock
from mmpose.models.heads.base_head import BaseHead
from mmpose.models.utils.tta import flip_heatmaps
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.utils.typing import (
    ConfigType,
    Features,
    OptConfigType,
    OptSampleList,
    Predictions,
)
from torch import Tensor, nn

from .swahr_head import build_scale_branch, zero_last_conv


@MODELS.register_module()
class AEHigherHRNetHead(BaseHead):
    """Bottom-up associative-embedding head of `HigherHRNet`_, optionally
    trained with `SWAHR`_ (``with_swahr``): the plain HigherHRNet and its
    SWAHR twin are this one class.

    Architecture (as the authors' ``PoseHigherResolutionNet``, after the
    HRNet backbone whose 1/4 branch it reads):

    - ``final_layers[0]``: conv on the 1/4 features -> K heatmaps and the
      tags (K with ``tag_per_keypoint``, else 1) when ``with_ae_loss[0]``;
    - for each deconv i: the features concatenated with the previous final
      layer's heatmaps and tags (``cat_output[i]``), a 4x4 stride-2
      ``ConvTranspose2d`` (no bias), BN, ReLU, ``num_basic_blocks``
      ``BasicBlock``s (``deconv_layers[i]``), then ``final_layers[i + 1]``
      (heatmaps, and tags where ``with_ae_loss[i + 1]``);
    - with SWAHR, one scale branch per resolution (``conv_scale_layers[i]``:
      1x1 conv -> BN -> ReLU -> 9x9 depthwise conv, last conv zero at
      initialisation) on the features that the final layer reads.

    The module names are the original's, so its released checkpoints map
    one to one (``posekit_plugins.utils.convert_swahr_checkpoint``).

    Outputs (``forward``, ``original_outputs``), in the original's channel
    order, resolution i = 1/4, 1/2, ...:

    - SWAHR: ``[scales (K), heatmaps (K), tags (K or 1, if AE at i)]``
    - plain: ``[heatmaps (K), tags (K or 1, if AE at i)]``

    Training: at every resolution the heatmap loss (``keypoint_loss``:
    :class:`SWAHRLoss` with the scales and the ignore mask, or, plain,
    mmpose's ``KeypointMSELoss`` with the ignore mask), weighted by
    ``heatmap_loss_weights`` (the code's ``HEATMAPS_LOSS_FACTOR``; the scale
    regulariser is not weighted, as in the code); the tag loss
    (``tag_loss``, default :class:`HigherHRNetAELoss`, averaged over the
    images) at the first resolution with ``gt_instance_labels.
    keypoint_indices``. The targets come from
    :class:`HigherHRNetAssociativeEmbedding` (a list of heatmaps,
    ``MultilevelPixelData``) and ``BottomupGetIgnoreMask`` (one mask per
    resolution). Loss names: ``loss_kpt``, ``loss_scale`` (1/4),
    ``loss_kpt_1_2``, ``loss_scale_1_2`` (1/2), ``loss_pull``,
    ``loss_push``.

    Testing (``predict``): with a ``parser`` (a ``KEYPOINT_CODECS`` config,
    e.g. ``dict(type='HigherHRNetParser', ...)``, the original's test path),
    ``parser.decode_batch(outputs, flipped_outputs_or_None,
    batch_data_samples)`` returns the ``InstanceData`` of every image.
    Without one (or while that type is not registered) the 1/4 heatmaps and
    tags (flip-averaged / concatenated as mmpose's
    ``AssociativeEmbeddingHead``) are decoded by ``decoder``.

    Note:
        - batch size: B
        - number of keypoints: K
        - input height, width: H, W

        ``forward`` returns a tuple ``(out_1_4, out_1_2)``:
        ``out_1_4`` (B, [K +] K + K_tag, H/4, W/4) and ``out_1_2``
        (B, [K +] K, H/2, W/2) (``[K +]``: SWAHR's scale channels).

    Args:
        in_channels (int): Channels of the backbone's 1/4 output (32 for
            HRNet-W32, 48 for W48).
        num_keypoints (int): K.
        tag_per_keypoint (bool): K tag maps (True, the code's
            ``TAG_PER_JOINT``) or one.
        deconv_out_channels (sequence[int]): Channels of each deconv stage
            (code: ``DECONV.NUM_CHANNELS``, = in_channels).
        deconv_kernel_sizes (sequence[int]): 4, 3 or 2 per deconv stage.
        num_basic_blocks (int): BasicBlocks after each deconv (code: 4).
        cat_output (sequence[bool]): Concatenate the previous outputs before
            each deconv (code: True).
        with_ae_loss (sequence[bool]): Tags at each resolution (code:
            (True, False)); only the first resolution is supported.
        final_kernel_size (int): 1 or 3 (code: 1).
        with_swahr (bool): Add the scale branches and train with SWAHR.
        scale_kernel_size (int): Depthwise kernel of the scale branch (9).
        keypoint_loss (Config): Heatmap loss, same at every resolution.
            Defaults to ``SWAHRLoss`` (SWAHR) / ``KeypointMSELoss``.
        heatmap_loss_weights (sequence[float]): Per resolution (1.0, 1.0).
        tag_loss (Config): Defaults to :class:`HigherHRNetAELoss`.
        decoder (Config, optional): Fallback decoder of the 1/4 outputs.
        parser (Config, optional): The original's test-path decoder. For
            ``type='HigherHRNetParser'`` the output layout arguments
            (``num_keypoints``, ``num_scale_channels``, ``tag_per_joint``,
            ``loss_with_ae``, ``loss_with_heatmaps``) default to this
            head's.
        init_cfg (Config, optional): Defaults to the code's
            ``Normal(std=0.001)`` of convs and deconvs, BN constant 1 / 0.

    .. _`HigherHRNet`: https://arxiv.org/abs/1908.10357
    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    _version = 2

    def __init__(self,
                 in_channels: int,
                 num_keypoints: int,
                 tag_per_keypoint: bool = True,
                 deconv_out_channels: Sequence[int] = (32, ),
                 deconv_kernel_sizes: Sequence[int] = (4, ),
                 num_basic_blocks: int = 4,
                 cat_output: Sequence[bool] = (True, ),
                 with_ae_loss: Sequence[bool] = (True, False),
                 final_kernel_size: int = 1,
                 with_swahr: bool = True,
                 scale_kernel_size: int = 9,
                 keypoint_loss: OptConfigType = None,
                 heatmap_loss_weights: Sequence[float] = (1.0, 1.0),
                 tag_loss: ConfigType = dict(type='HigherHRNetAELoss'),
                 decoder: OptConfigType = None,
                 parser: OptConfigType = None,
                 init_cfg: OptConfigType = None):
        if init_cfg is None:
            init_cfg = [
                dict(type='Normal', layer=['Conv2d', 'ConvTranspose2d'],
                     std=0.001, bias=0),
                dict(type='Constant', layer='BatchNorm2d', val=1, bias=0)
            ]
        super().__init__(init_cfg)
        num_deconvs = len(deconv_out_channels)
        if len(deconv_kernel_sizes) != num_deconvs or len(
                cat_output) != num_deconvs:
            raise ValueError(
                'deconv_out_channels, deconv_kernel_sizes and cat_output '
                f'need one entry per deconv, got {len(deconv_out_channels)}, '
                f'{len(deconv_kernel_sizes)} and {len(cat_output)}')
        if len(with_ae_loss) != num_deconvs + 1 or len(
                heatmap_loss_weights) != num_deconvs + 1:
            raise ValueError(
                'with_ae_loss and heatmap_loss_weights need one entry per '
                f'resolution ({num_deconvs + 1})')
        if not with_ae_loss[0] or any(with_ae_loss[1:]):
            raise ValueError('only tags at the first resolution are '
                             f'supported, got with_ae_loss={with_ae_loss}')
        if final_kernel_size not in (1, 3):
            raise ValueError(
                f'final_kernel_size must be 1 or 3, got {final_kernel_size}')
        self.in_channels = in_channels
        self.num_keypoints = K = num_keypoints
        self.tag_per_keypoint = tag_per_keypoint
        self.tag_channels = K if tag_per_keypoint else 1
        self.num_deconvs = num_deconvs
        self.cat_output = tuple(bool(c) for c in cat_output)
        self.with_ae_loss = tuple(bool(a) for a in with_ae_loss)
        self.with_swahr = with_swahr
        self.heatmap_loss_weights = tuple(float(w)
                                          for w in heatmap_loss_weights)

        def final_out(i: int) -> int:
            return K + self.tag_channels if self.with_ae_loss[i] else K

        feat_channels = [in_channels] + list(deconv_out_channels)
        self.final_layers = nn.ModuleList([
            nn.Conv2d(c, final_out(i), final_kernel_size,
                      padding=final_kernel_size // 2)
            for i, c in enumerate(feat_channels)
        ])
        deconv_layers = []
        c_in = in_channels
        for i, (c_out, k) in enumerate(
                zip(deconv_out_channels, deconv_kernel_sizes)):
            if self.cat_output[i]:
                c_in += final_out(i)
            padding, output_padding = {4: (1, 0), 3: (1, 1), 2: (0, 0)}[k]
            stages = [
                nn.Sequential(
                    nn.ConvTranspose2d(c_in, c_out, k, stride=2,
                                       padding=padding,
                                       output_padding=output_padding,
                                       bias=False),
                    nn.BatchNorm2d(c_out), nn.ReLU(inplace=True))
            ]
            stages += [
                nn.Sequential(BasicBlock(c_out, c_out))
                for _ in range(num_basic_blocks)
            ]
            deconv_layers.append(nn.Sequential(*stages))
            c_in = c_out
        self.deconv_layers = nn.ModuleList(deconv_layers)
        if with_swahr:
            self.conv_scale_layers = nn.ModuleList([
                build_scale_branch(c, K, scale_kernel_size)
                for c in feat_channels
            ])

        if keypoint_loss is None:
            keypoint_loss = dict(type='SWAHRLoss') if with_swahr else dict(
                type='KeypointMSELoss', use_target_weight=False)
        self.keypoint_loss = MODELS.build(keypoint_loss)
        self.tag_loss = MODELS.build(tag_loss)
        self.decoder = KEYPOINT_CODECS.build(decoder) if decoder else None
        self.parser = self._build_parser(parser)

    def _build_parser(self, parser: OptConfigType):
        if not parser:
            return None
        parser = dict(parser)
        if parser['type'] == 'HigherHRNetParser':
            # the layout of this head's outputs
            parser.setdefault('num_keypoints', self.num_keypoints)
            parser.setdefault('num_scale_channels',
                              self.num_keypoints if self.with_swahr else 0)
            parser.setdefault('tag_per_joint', self.tag_per_keypoint)
            parser.setdefault('loss_with_ae', self.with_ae_loss)
            parser.setdefault('loss_with_heatmaps',
                              (True, ) * (self.num_deconvs + 1))
        if KEYPOINT_CODECS.get(parser['type']) is None:
            warnings.warn(
                f'parser type {parser["type"]!r} is not registered; '
                'predict() falls back to the decoder on the 1/4 outputs',
                stacklevel=2)
            return None
        return KEYPOINT_CODECS.build(parser)

    def init_weights(self) -> None:
        """The code's initialisation (``init_cfg``), then the scale
        branches' last conv at zero (first call, no ``Pretrained``)."""
        repeated = self.is_init
        super().init_weights()
        cfgs = self.init_cfg if isinstance(self.init_cfg,
                                           list) else [self.init_cfg]
        pretrained = any(
            isinstance(c, dict) and c.get('type') == 'Pretrained'
            for c in cfgs)
        if self.with_swahr and not repeated and not pretrained:
            for branch in self.conv_scale_layers:
                zero_last_conv(branch)

    # ------------------------------------------------------------ forward
    @staticmethod
    def _input(feats: Union[Tensor, Sequence[Tensor]]) -> Tensor:
        if isinstance(feats, Tensor):
            return feats
        return feats[0]

    def original_outputs(self, feats: Union[Tensor,
                                            Sequence[Tensor]]) -> List[Tensor]:
        """The original model's ``forward`` list: one tensor per resolution
        (1/4 first), channels as the class docstring lists them.

        Args:
            feats (Tensor | sequence[Tensor]): The backbone's outputs; the
                first (1/4 resolution, HRNet's only output) is used.
        """
        x = self._input(feats)
        K = self.num_keypoints
        outs = []
        y = None
        for i in range(self.num_deconvs + 1):
            if i > 0:
                if self.cat_output[i - 1]:
                    x = torch.cat((x, y), 1)
                x = self.deconv_layers[i - 1](x)
            y = self.final_layers[i](x)
            if self.with_swahr:
                outs.append(torch.cat((self.conv_scale_layers[i](x), y), 1))
            else:
                outs.append(y)
        assert y is not None and y.shape[1] >= K
        return outs

    def forward(self, feats: Features) -> Tuple[Tensor, ...]:
        """``tuple(original_outputs(feats))``: ``(out_1_4, out_1_2)``."""
        return tuple(self.original_outputs(feats))

    def split_output(self, output: Tensor,
                     level: int) -> Tuple[Optional[Tensor], Tensor,
                                          Optional[Tensor]]:
        """``(scales or None, heatmaps, tags or None)`` of one resolution's
        output."""
        K = self.num_keypoints
        off = K if self.with_swahr else 0
        scales = output[:, :K] if self.with_swahr else None
        heatmaps = output[:, off:off + K]
        tags = output[:, off + K:] if self.with_ae_loss[level] else None
        return scales, heatmaps, tags

    # ------------------------------------------------------------ predict
    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Decode a batch (see the class docstring).

        Args:
            feats: The backbone's outputs (tuple), or with
                ``test_cfg['flip_test']`` a list ``[feats, flipped_feats]``
                (as mmpose's ``BottomupPoseEstimator`` passes them).
            batch_data_samples (list[PoseDataSample]): The batch.
            test_cfg (dict): ``flip_test``, ``shift_heatmap``,
                ``output_heatmaps``; multi-scale test is not supported.

        Returns:
            list[InstanceData] (``keypoints`` (N, K, 2) in the input space,
            ``keypoint_scores`` (N, K), ``bbox_scores`` (N, )), and with
            ``output_heatmaps`` also a list of ``PixelData`` (the 1/4
            ``heatmaps`` and ``tags`` used by the fallback decoder).
        """
        if test_cfg.get('multiscale_test', False):
            raise NotImplementedError(
                f'{type(self).__name__} does not support multiscale_test')
        flip_test = test_cfg.get('flip_test', False)
        if flip_test:
            if not (isinstance(feats, list) and len(feats) == 2):
                raise ValueError('flip_test needs [feats, flipped_feats]')
            outs = self.original_outputs(feats[0])
            outs_flip = self.original_outputs(feats[1])
        else:
            outs = self.original_outputs(feats)
            outs_flip = None

        heatmaps = tags = None
        if self.parser is not None:
            preds = self.parser.decode_batch(outs, outs_flip,
                                             batch_data_samples)
        else:
            heatmaps, tags = self._fallback_maps(outs, outs_flip,
                                                 batch_data_samples,
                                                 test_cfg)
            preds = self._decode_fallback(heatmaps, tags)
        if test_cfg.get('output_heatmaps', False):
            if heatmaps is None:
                heatmaps, tags = self._fallback_maps(outs, outs_flip,
                                                     batch_data_samples,
                                                     test_cfg)
            return preds, [
                PixelData(heatmaps=h, tags=t)
                for h, t in zip(heatmaps.detach(), tags.detach())
            ]
        return preds

    def _decode_fallback(self, heatmaps: Tensor,
                         tags: Tensor) -> List[InstanceData]:
        """Group and refine with ``decoder.batch_decode`` (AE codecs)."""
        if self.decoder is None:
            raise RuntimeError(
                f'{type(self).__name__} has neither a parser nor a decoder')
        kpts, scores, inst_scores = self.decoder.batch_decode(heatmaps, tags)
        return [
            InstanceData(keypoints=k, keypoint_scores=s, bbox_scores=b)
            for k, s, b in zip(kpts, scores, inst_scores)
        ]

    def _fallback_maps(self, outs: List[Tensor],
                       outs_flip: Optional[List[Tensor]],
                       batch_data_samples: OptSampleList,
                       test_cfg: ConfigType) -> Tuple[Tensor, Tensor]:
        """1/4 heatmaps and tags; with a flipped pass, heatmaps averaged and
        tags concatenated (mmpose's ``AssociativeEmbeddingHead``)."""
        _, heatmaps, tags = self.split_output(outs[0], 0)
        if not self.tag_per_keypoint:
            tags = tags.repeat(1, self.num_keypoints, 1, 1)
        if outs_flip is None:
            return heatmaps, tags
        shift = test_cfg.get('shift_heatmap', False)
        flip_indices = batch_data_samples[0].metainfo['flip_indices']
        _, heatmaps_f, tags_f = self.split_output(outs_flip[0], 0)
        heatmaps_f = flip_heatmaps(
            heatmaps_f, flip_indices=flip_indices, flip_mode='heatmap',
            shift_heatmap=shift)
        if self.tag_per_keypoint:
            tags_f = tags_f.flip(-1)[:, flip_indices]
        else:
            tags_f = tags_f.flip(-1).repeat(1, self.num_keypoints, 1, 1)
        if shift:
            tags_f[..., 1:] = tags_f[..., :-1].clone()
        return (heatmaps + heatmaps_f) / 2, torch.cat((tags, tags_f), 1)

    # --------------------------------------------------------------- loss
    def loss(self,
             feats: Tuple[Tensor],
             batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Heatmap (and SWAHR scale) losses at every resolution, tag loss at
        the first (see the class docstring for the names)."""
        outs = self.original_outputs(feats)
        n_levels = len(outs)
        gt_heatmaps = [[] for _ in range(n_levels)]
        masks = [[] for _ in range(n_levels)]
        keypoint_indices = []
        for d in batch_data_samples:
            hms = d.gt_fields.heatmaps
            if not isinstance(hms, list) or len(hms) != n_levels:
                raise ValueError(
                    f'{type(self).__name__} needs {n_levels} levels of '
                    'heatmaps (encode with HigherHRNetAssociativeEmbedding)')
            mk = d.gt_fields.heatmap_mask if 'heatmap_mask' in \
                d.gt_fields else [None] * n_levels
            for i in range(n_levels):
                gt_heatmaps[i].append(hms[i])
                masks[i].append(mk[i])
            if 'keypoint_indices' not in d.gt_instance_labels:
                raise KeyError('gt_instance_labels.keypoint_indices is '
                               'missing: encode with '
                               'HigherHRNetAssociativeEmbedding')
            keypoint_indices.append(d.gt_instance_labels.keypoint_indices)

        losses = dict()
        for i, out in enumerate(outs):
            scales, heatmaps, tags = self.split_output(out, i)
            target = torch.stack(gt_heatmaps[i]).to(heatmaps)
            if any(m is None for m in masks[i]):
                if not all(m is None for m in masks[i]):
                    raise ValueError(
                        'heatmap_mask is missing on some data samples')
                mask = None
            else:
                mask = torch.stack(masks[i]).to(heatmaps)
                if mask.ndim == 3:
                    mask = mask.unsqueeze(1)
            if self.with_swahr:
                res = self.keypoint_loss(heatmaps, target, scales, None, mask)
            else:
                res = self.keypoint_loss(heatmaps, target, None, mask)
            res = dict(res) if isinstance(res, dict) else dict(loss_kpt=res)
            suffix = '' if i == 0 else f'_1_{4 >> i}'
            for name, value in res.items():
                if name == 'loss_kpt':
                    value = value * self.heatmap_loss_weights[i]
                losses[name + suffix] = value
            if tags is not None:
                if not self.tag_per_keypoint:
                    tags = tags.repeat(1, self.num_keypoints, 1, 1)
                loss_pull, loss_push = self.tag_loss(tags, keypoint_indices)
                losses.update(loss_pull=loss_pull, loss_push=loss_push)
        return losses

