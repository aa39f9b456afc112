"""YOLOv5's PAN neck (the "head" of its yaml files before ``Detect``)."""
from typing import List, Sequence, Tuple

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.models.layers import CSPLayer
from mmengine.model import BaseModule
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptMultiConfig
from torch import Tensor


@MODELS.register_module()
class YOLOv5PAN(BaseModule):
    """The path-aggregation neck of YOLOv5 (v5.0 "P5"/"P6" models).

    Unlike mmdet's ``YOLOXPAFPN`` (one width for every output), each output
    level keeps the width of its input level, and the laterals are the
    reduced top-down features themselves, as in YOLOv5's yaml files.
    With inputs ``C_0 .. C_{n-1}`` (``c_i`` channels, finest first):

    - top-down, for ``i = n-2 .. 0``: ``L_i = Conv1x1(x) -> c_i`` (``x``
      starts as ``C_{n-1}``), then ``x = C3(cat(up2(L_i), C_i)) -> c_i``;
      the last ``x`` is output ``P_0``;
    - bottom-up, for ``i = 1 .. n-1``: ``x = C3(cat(Conv3x3s2(x) -> c_{i-1},
      L_{i-1})) -> c_i``, output ``P_i``.

    Each C3 is mmdet's ``CSPLayer`` without identity shortcuts (YOLOv5's
    ``C3(..., False)``: the same three 1x1 convs and bottlenecks). For the
    P6 models (``in_channels = (256, 512, 768, 1024) x width``) this is
    layers 12-32 of ``yolov5s6.yaml`` in order: ``reduce_convs`` are layers
    12, 16, 20; ``top_down_blocks`` 15, 19, 23; ``downsamples`` 24, 27, 30;
    ``bottom_up_blocks`` 26, 29, 32.

    Note:
        - inputs/outputs: ``n`` maps (B, c_i, H_i, W_i), stride doubling
          from one level to the next

        YOLOv5: https://github.com/ultralytics/yolov5 ; PANet:
        https://arxiv.org/abs/1803.01534

    Args:
        in_channels (Sequence[int]): Channels of each input level, finest
            first; also the output channels.
        num_csp_blocks (int): Bottlenecks per C3 (YOLOv5: ``round(3 *
            depth_multiple)``).
        norm_cfg (dict): Norm layer config (YOLOv5: BN, eps 1e-3, momentum
            0.03).
        act_cfg (dict): Activation config (YOLOv5: SiLU).
        init_cfg (dict, optional): Initialisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 num_csp_blocks: int = 1,
                 norm_cfg: ConfigType = dict(
                     type='BN', momentum=0.03, eps=0.001),
                 act_cfg: ConfigType = dict(type='SiLU'),
                 init_cfg: OptMultiConfig = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.in_channels = list(in_channels)
        if len(self.in_channels) < 2:
            raise ValueError('YOLOv5PAN needs at least two input levels')
        if num_csp_blocks < 1:
            raise ValueError('num_csp_blocks must be >= 1')
        c = self.in_channels
        n = len(c)
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)

        def csp(cin: int, cout: int) -> nn.Module:
            return CSPLayer(
                cin, cout, num_blocks=num_csp_blocks, add_identity=False,
                **cfg)

        # top-down, coarsest first (index j = n-2-i)
        self.reduce_convs = nn.ModuleList()
        self.top_down_blocks = nn.ModuleList()
        width = c[-1]
        for i in range(n - 2, -1, -1):
            self.reduce_convs.append(ConvModule(width, c[i], 1, **cfg))
            self.top_down_blocks.append(csp(2 * c[i], c[i]))
            width = c[i]
        self.upsample = nn.Upsample(scale_factor=2, mode='nearest')
        # bottom-up, finest first
        self.downsamples = nn.ModuleList()
        self.bottom_up_blocks = nn.ModuleList()
        for i in range(1, n):
            self.downsamples.append(
                ConvModule(c[i - 1], c[i - 1], 3, stride=2, padding=1, **cfg))
            self.bottom_up_blocks.append(csp(2 * c[i - 1], c[i]))

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        """(P_0, ..., P_{n-1}) from (C_0, ..., C_{n-1})."""
        n = len(self.in_channels)
        if len(inputs) != n:
            raise ValueError(f'YOLOv5PAN: got {len(inputs)} inputs, built for '
                             f'{n} (in_channels={self.in_channels})')
        laterals: List[Tensor] = []
        x = inputs[-1]
        for j, i in enumerate(range(n - 2, -1, -1)):
            lat = self.reduce_convs[j](x)
            laterals.append(lat)
            x = self.top_down_blocks[j](
                torch.cat([self.upsample(lat), inputs[i]], dim=1))
        outs = [x]
        laterals.reverse()  # finest first: laterals[i] has c_i channels
        for i in range(1, n):
            x = self.bottom_up_blocks[i - 1](
                torch.cat([self.downsamples[i - 1](x), laterals[i - 1]],
                          dim=1))
            outs.append(x)
        return tuple(outs)
