"""YOLOv5PAN: YOLOv5's P6 PAN (yolov5s6.yaml layers 12-32), layer by layer."""
import pytest
import torch
from mmpose.registry import MODELS

import posekit_plugins  # noqa: F401


def _pan(channels=(32, 64, 96, 128), blocks=1):
    return MODELS.build(
        dict(type='YOLOv5PAN', in_channels=list(channels),
             num_csp_blocks=blocks))


def test_layers_are_the_yaml_ones():
    """Each layer's input/output widths as yolov5s6.yaml (at 1/8 width:
    c = 32, 64, 96, 128), and C3 blocks without shortcuts."""
    pan = _pan(blocks=2)
    c = [32, 64, 96, 128]

    def conv_shape(m):
        return tuple(m.conv.weight.shape)

    # top-down: layers 12/16/20 (1x1) and 15/19/23 (C3 on 2c -> c)
    assert [conv_shape(m) for m in pan.reduce_convs] == [
        (c[2], c[3], 1, 1), (c[1], c[2], 1, 1), (c[0], c[1], 1, 1)]
    assert [m.main_conv.conv.weight.shape[1] for m in pan.top_down_blocks] \
        == [2 * c[2], 2 * c[1], 2 * c[0]]
    assert [m.final_conv.conv.weight.shape[0] for m in pan.top_down_blocks] \
        == [c[2], c[1], c[0]]
    # bottom-up: layers 24/27/30 (3x3 stride 2, same width), 26/29/32
    assert [conv_shape(m) for m in pan.downsamples] == [
        (c[0], c[0], 3, 3), (c[1], c[1], 3, 3), (c[2], c[2], 3, 3)]
    assert all(m.conv.stride == (2, 2) for m in pan.downsamples)
    assert [m.main_conv.conv.weight.shape[1] for m in pan.bottom_up_blocks] \
        == [2 * c[0], 2 * c[1], 2 * c[2]]
    assert [m.final_conv.conv.weight.shape[0] for m in pan.bottom_up_blocks] \
        == [c[1], c[2], c[3]]
    for m in list(pan.top_down_blocks) + list(pan.bottom_up_blocks):
        assert len(m.blocks) == 2
        assert not any(b.add_identity for b in m.blocks)
    bn = pan.reduce_convs[0].bn
    assert (bn.eps, bn.momentum) == (1e-3, 0.03)
    assert isinstance(pan.reduce_convs[0].activate, torch.nn.SiLU)


def test_forward_shapes_and_wiring():
    """Outputs keep each level's width and size; the top-down lateral of a
    level feeds the bottom-up path (zeroing it changes the coarser
    outputs only)."""
    torch.manual_seed(0)
    pan = _pan().eval()
    feats = [torch.randn(1, c, 64 // 2**i, 64 // 2**i)
             for i, c in enumerate((32, 64, 96, 128))]
    outs = pan(feats)
    assert [tuple(o.shape) for o in outs] == [
        (1, 32, 64, 64), (1, 64, 32, 32), (1, 96, 16, 16), (1, 128, 8, 8)]
    # the finest input only reaches P_0 through the last top-down block
    feats2 = [feats[0] * 0] + feats[1:]
    outs2 = pan(feats2)
    assert all(not torch.allclose(a, b) for a, b in zip(outs, outs2))
    with pytest.raises(ValueError, match='inputs'):
        pan(feats[:3])
