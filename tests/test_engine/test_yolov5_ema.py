"""(c) YOLOv5ModelEMA is ModelEMA (parameters and BN buffers, to the bit);
mmpose's ExpMomentumEMA is not (its first update)."""
import math

import torch
import torch.nn as nn
from mmpose.engine.hooks import ExpMomentumEMA

from posekit_plugins.engine import YOLOv5ModelEMA

from ._reference import RefModelEMA


def net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3, bias=False),
                         nn.BatchNorm2d(8, momentum=0.03), nn.SiLU(),
                         nn.Conv2d(8, 4, 1))


def train_steps(model, steps, on_step):
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        x = torch.randn(4, 3, 8, 8, generator=g)
        model(x).square().mean().backward()  # BN running stats move too
        opt.step()
        opt.zero_grad()
        on_step(model)


def test_equals_model_ema():
    model = net()
    ref = RefModelEMA(model)
    ours = YOLOv5ModelEMA(net())  # built before the weights are set...
    ours.copy_from(model)  # ...and restarted from them (YOLOv5EMAHook)

    def step(m):
        ref.update(m)
        ours.update_parameters(m)

    train_steps(model, 25, step)
    assert int(ours.steps) == ref.updates == 25
    ema_sd, ref_sd, src_sd = (ours.module.state_dict(), ref.ema.state_dict(),
                              model.state_dict())
    assert ema_sd.keys() == ref_sd.keys()
    for k in ref_sd:
        assert torch.equal(ema_sd[k], ref_sd[k]), k
    # averaged: BN weights / running stats differ from the model's; the
    # integer num_batches_tracked stays the copy's (0), as in ModelEMA
    assert not torch.equal(ema_sd['1.running_mean'], src_sd['1.running_mean'])
    assert not torch.equal(ema_sd['0.weight'], src_sd['0.weight'])
    assert int(ema_sd['1.num_batches_tracked']) == 0
    assert int(src_sd['1.num_batches_tracked']) == 25


def test_decay_formula():
    ema = YOLOv5ModelEMA(net())
    for k in (1, 2, 100, 2000, 10**6):
        assert ema.decay_at(k) == 0.9999 * (1 - math.exp(-k / 2000))


def test_exp_momentum_ema_differs_from_model_ema():
    """mmpose's ExpMomentumEMA(momentum=1e-4, gamma=2000): the same decay
    from its 2nd update on, but its 1st update copies the model (ModelEMA
    keeps d(1) ~ 5e-4 of the start) and the integer buffers with it."""
    model = net()
    ref = RefModelEMA(model)
    exp = ExpMomentumEMA(model, momentum=0.0001, gamma=2000,
                         update_buffers=True)
    for steps in (1, 5, 1999):  # its decay at `steps` = ModelEMA's d(steps+1)
        m = (1 - 0.0001) * math.exp(-(1 + steps) / 2000) + 0.0001
        assert math.isclose(1 - m, 0.9999 * (1 - math.exp(-(steps + 1) / 2000)),
                            rel_tol=1e-12)

    def step(mdl):
        ref.update(mdl)
        exp.update_parameters(mdl)

    train_steps(model, 1, step)
    exp_sd, ref_sd = exp.module.state_dict(), ref.ema.state_dict()
    src_sd = model.state_dict()
    assert torch.equal(exp_sd['0.weight'], src_sd['0.weight'])  # a copy
    assert not torch.allclose(ref_sd['0.weight'], src_sd['0.weight'],
                              rtol=0, atol=1e-7)
    assert int(exp_sd['1.num_batches_tracked']) == 1
    assert int(ref_sd['1.num_batches_tracked']) == 0
