"""(a) YOLOv5's three parameter groups and batch-scaled weight decay."""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.optim import build_optim_wrapper

from posekit_plugins.engine import (
    YOLOv5OptimWrapper,
    yolov5_accumulate,
    yolov5_param_groups,
    yolov5_weight_decay,
)

from ._reference import ref_accumulate, ref_param_groups, ref_weight_decay


class Small(nn.Module):
    """Conv+BN (mmcv's ConvModule: BN is an nn.BatchNorm2d inside), a conv
    with bias, a bare BN, a Linear and a parameter no module owns."""

    def __init__(self):
        super().__init__()
        self.stem = ConvModule(3, 8, 3, padding=1,
                               norm_cfg=dict(type='BN', momentum=0.03))
        self.conv = nn.Conv2d(8, 8, 1)  # weight + bias
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, 4)  # weight + bias
        self.free = nn.Parameter(torch.zeros(2))  # not a module's weight/bias

    def forward(self, x):
        x = self.bn(self.conv(self.stem(x)))
        return self.fc(x.mean((2, 3))) + self.free.sum()


def build(model, batch_size_per_gpu=16, world_size=4, **optimizer):
    cfg = dict(
        type='YOLOv5OptimWrapper', amp=False,
        constructor='YOLOv5OptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=0.01, momentum=0.937, weight_decay=5e-4,
                       nesterov=True, **optimizer),
        paramwise_cfg=dict(batch_size_per_gpu=batch_size_per_gpu,
                           world_size=world_size))
    return build_optim_wrapper(model, cfg)


def test_groups_are_the_originals():
    model = Small()
    ref = ref_param_groups(model)
    ours = yolov5_param_groups(model)
    for r, o in zip(ref, ours):
        assert [id(p) for p in r] == [id(p) for p in o]
    # BN weights: stem's BN and the bare BN; weights: stem conv, conv, fc;
    # biases: stem BN, conv, bn, fc (ConvModule's conv has no bias with BN)
    assert [len(g) for g in ours] == [2, 3, 4]
    assert ours[0][0] is model.stem.bn.weight and ours[0][1] is model.bn.weight
    assert ours[1] == [model.stem.conv.weight, model.conv.weight,
                       model.fc.weight]

    wrapper = build(model)
    assert isinstance(wrapper, YOLOv5OptimWrapper)
    opt = wrapper.optimizer
    assert isinstance(opt, torch.optim.SGD)
    assert len(opt.param_groups) == 3
    for g, r in zip(opt.param_groups, ref):
        assert [id(p) for p in g['params']] == [id(p) for p in r]
        assert g['lr'] == 0.01 and g['momentum'] == 0.937 and g['nesterov']
    # 4 x 16 = 64: accumulate 1, decay 5e-4 on group 1 only
    assert [g['weight_decay'] for g in opt.param_groups] == [0, 5e-4, 0]
    assert wrapper.accumulate == wrapper._accumulative_counts == 1
    # as in the original, a parameter that is no module's weight / bias is
    # not optimised
    grouped = {id(p) for g in opt.param_groups for p in g['params']}
    assert id(model.free) not in grouped


@pytest.mark.parametrize('per_gpu,world_size',
                         [(16, 4), (16, 1), (32, 4), (18, 4), (12, 4), (4, 1),
                          (24, 1), (8, 2), (64, 1), (5, 1)])
def test_weight_decay_and_accumulate_scaling(per_gpu, world_size):
    total = per_gpu * world_size
    assert yolov5_accumulate(total) == ref_accumulate(total)
    assert yolov5_weight_decay(5e-4, total) == ref_weight_decay(5e-4, total)
    wrapper = build(Small(), per_gpu, world_size)
    groups = wrapper.optimizer.param_groups
    assert groups[1]['weight_decay'] == ref_weight_decay(5e-4, total)
    assert groups[0]['weight_decay'] == groups[2]['weight_decay'] == 0
    assert wrapper._accumulative_counts == ref_accumulate(total)
    assert wrapper.yolov5_settings['total_batch_size'] == total


def test_paper_batches():
    # YOLO-Pose 4 x 16, KAPAO-S 4 x 32, -M 4 x 18, -L 4 x 12 (the papers')
    assert [(yolov5_accumulate(t), yolov5_weight_decay(5e-4, t))
            for t in (64, 128, 72, 48)] == [
                (1, 5e-4), (1, 1e-3), (1, 5e-4 * 72 / 64), (1, 5e-4 * 48 / 64)]


def test_adam_gets_betas_from_momentum():
    cfg = dict(
        type='YOLOv5OptimWrapper', amp=False,
        constructor='YOLOv5OptimWrapperConstructor',
        optimizer=dict(type='Adam', lr=1e-3, momentum=0.937, weight_decay=5e-4),
        paramwise_cfg=dict(batch_size_per_gpu=64, world_size=1))
    opt = build_optim_wrapper(Small(), cfg).optimizer
    assert isinstance(opt, torch.optim.Adam)
    assert all(g['betas'] == (0.937, 0.999) for g in opt.param_groups)
    assert [g['weight_decay'] for g in opt.param_groups] == [0, 5e-4, 0]
