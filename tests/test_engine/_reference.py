"""YOLOv5's training-loop rules, re-stated from their formulas (YOLO-Pose's
and KAPAO's train.py / utils; not their code) for the parity tests."""
import copy
import math
import warnings

import numpy as np
import torch
import torch.nn as nn

NBS = 64


def ref_param_groups(model):
    """pg0 BatchNorm2d weights, pg1 other module weights, pg2 module biases,
    walking named_modules in order."""
    pg0, pg1, pg2 = [], [], []
    for _, m in model.named_modules():
        bias = getattr(m, 'bias', None)
        if isinstance(bias, nn.Parameter):
            pg2.append(bias)
        weight = getattr(m, 'weight', None)
        if isinstance(m, nn.BatchNorm2d):
            pg0.append(weight)
        elif isinstance(weight, nn.Parameter):
            pg1.append(weight)
    return pg0, pg1, pg2


def ref_accumulate(total):
    return max(round(NBS / total), 1)


def ref_weight_decay(wd, total):
    return wd * total * ref_accumulate(total) / NBS


def ref_lambda(lrf, epochs, linear=False):
    if linear:
        return lambda e: (1 - e / (epochs - 1)) * (1.0 - lrf) + lrf
    return lambda e: (1 - math.cos(e * math.pi / epochs)) / 2 * (lrf - 1) + 1


def ref_schedule(epochs, nb, total, lr0=0.01, lrf=0.2, momentum=0.937,
                 warmup_epochs=3.0, min_warmup_iters=1000, warmup_bias_lr=0.1,
                 warmup_momentum=0.8, linear=False):
    """{ni: (lrs, momenta, accumulate)} in force at each iteration's
    optimizer step: torch's LambdaLR stepped after each epoch, the warm-up
    interpolation by iteration before each step."""
    params = [nn.Parameter(torch.zeros(1)) for _ in range(3)]
    opt = torch.optim.SGD([params[0]], lr=lr0, momentum=momentum,
                          nesterov=True)
    opt.add_param_group({'params': [params[1]], 'weight_decay': 1e-3})
    opt.add_param_group({'params': [params[2]]})
    lf = ref_lambda(lrf, epochs, linear)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lf)
    nw = max(round(warmup_epochs * nb), min_warmup_iters)
    accumulate = ref_accumulate(total)
    out = {}
    for epoch in range(epochs):
        for i in range(nb):
            ni = nb * epoch + i
            if ni <= nw:
                accumulate = max(1, np.interp(ni, [0, nw],
                                              [1, NBS / total]).round())
                for j, g in enumerate(opt.param_groups):
                    g['lr'] = np.interp(ni, [0, nw], [
                        warmup_bias_lr if j == 2 else 0.0,
                        g['initial_lr'] * lf(epoch)])
                    g['momentum'] = np.interp(ni, [0, nw],
                                              [warmup_momentum, momentum])
            out[ni] = ([g['lr'] for g in opt.param_groups],
                       [g['momentum'] for g in opt.param_groups],
                       int(accumulate))
        with warnings.catch_warnings():  # (no optimizer.step() here)
            warnings.simplefilter('ignore')
            sched.step()
    return out


def ref_steps(accumulates, rule):
    """Iterations at which the optimizer steps, given accumulate per ni."""
    steps, last = [], -1
    for ni, acc in enumerate(accumulates):
        if (ni % acc == 0) if rule == 'modulo' else (ni - last >= acc):
            steps.append(ni)
            last = ni
    return steps


class RefModelEMA:
    """ModelEMA: a copy at the start; after each optimizer step updates += 1,
    d = 0.9999 (1 - exp(-updates / 2000)), floating state entries
    <- d * ema + (1 - d) * model."""

    def __init__(self, model, decay=0.9999, tau=2000):
        self.ema = copy.deepcopy(model).eval()
        self.updates = 0
        self.decay = decay
        self.tau = tau

    @torch.no_grad()
    def update(self, model):
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        msd = model.state_dict()
        for k, v in self.ema.state_dict().items():
            if v.dtype.is_floating_point:
                v *= d
                v += (1. - d) * msd[k].detach()
