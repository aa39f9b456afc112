"""(b) YOLOv5ScheduleHook gives, at every iteration, the lr and momentum of
each group (and the accumulation) that YOLOv5's loop uses: torch's LambdaLR
per epoch plus the warm-up interpolation, also across the warm-up's end in
mid-epoch, and after resuming from a checkpoint."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch.nn as nn
from mmengine.optim import build_optim_wrapper

from posekit_plugins.engine import YOLOv5ScheduleHook

from ._reference import ref_schedule

NB = 10  # iterations per epoch
EPOCHS = 30


class Loader:
    def __init__(self, n, batch_size):
        self.n, self.batch_size = n, batch_size

    def __len__(self):
        return self.n


def make_wrapper(per_gpu):
    model = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4),
                          nn.Conv2d(4, 2, 1))
    return build_optim_wrapper(model, dict(
        type='YOLOv5OptimWrapper', amp=False,
        constructor='YOLOv5OptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=0.01, momentum=0.937, weight_decay=5e-4,
                       nesterov=True),
        paramwise_cfg=dict(batch_size_per_gpu=per_gpu, world_size=1)))


def drive(hook, wrapper, per_gpu, start_epoch=0, start_iter=None,
          end_epoch=EPOCHS):
    """Calls the hook as mmengine's epoch-based loop does; returns
    {ni: (lrs, momenta, accumulate)} seen by each iteration's step."""
    runner = SimpleNamespace(
        optim_wrapper=wrapper, max_epochs=EPOCHS, epoch=start_epoch,
        iter=start_epoch * NB if start_iter is None else start_iter,
        train_dataloader=Loader(NB, per_gpu))
    seen = {}
    hook.before_train(runner)
    while runner.epoch < end_epoch:
        if runner.iter % NB == 0:
            hook.before_train_epoch(runner)
        while True:
            hook.before_train_iter(runner, runner.iter % NB)
            groups = wrapper.optimizer.param_groups
            seen[runner.iter] = ([g['lr'] for g in groups],
                                 [g['momentum'] for g in groups],
                                 wrapper.accumulate)
            runner.iter += 1
            if runner.iter % NB == 0:
                break
        runner.epoch += 1
    return seen


def assert_same(seen, ref):
    assert sorted(seen) == list(range(min(seen), max(seen) + 1))
    for ni, (lrs, moms, acc) in seen.items():
        r_lrs, r_moms, r_acc = ref[ni]
        # the same float operations: equal to the last bit
        np.testing.assert_array_equal(lrs, r_lrs, err_msg=f'lr at {ni}')
        np.testing.assert_array_equal(moms, r_moms, err_msg=f'mom at {ni}')
        assert acc == r_acc, ni


@pytest.mark.parametrize('schedule,min_warmup,per_gpu', [
    ('cosine', 45, 16),  # warm-up ends in mid-epoch 4 (iteration 45)
    ('cosine', 1, 64),  # 3 epochs (30 iterations), nothing accumulated
    ('linear', 45, 8),  # --linear-lr
])
def test_schedule_equals_original(schedule, min_warmup, per_gpu):
    ref = ref_schedule(EPOCHS, NB, per_gpu, min_warmup_iters=min_warmup,
                       linear=schedule == 'linear')
    hook = YOLOv5ScheduleHook(lrf=0.2, schedule=schedule,
                              min_warmup_iters=min_warmup)
    seen = drive(hook, make_wrapper(per_gpu), per_gpu)
    assert_same(seen, ref)
    nw = max(30, min_warmup)
    # spot checks against the formulas themselves
    lrs, moms, _ = seen[0]
    assert lrs == [0.0, 0.0, 0.1] and moms == [0.8] * 3
    lrs, moms, _ = seen[nw]  # end of warm-up: lr0 * lf(epoch), momentum
    assert moms == [0.937] * 3
    assert lrs[0] == lrs[1] == lrs[2] == pytest.approx(
        0.01 * hook.lf(nw // NB), rel=1e-12)
    # after the warm-up: constant within an epoch, lf(epoch) at each epoch
    e = nw // NB + 1
    assert seen[e * NB][0] == seen[e * NB + NB - 1][0] == [0.01 * hook.lf(e)] * 3
    assert seen[EPOCHS * NB - 1][0][0] == pytest.approx(
        0.01 * hook.lf(EPOCHS - 1))


@pytest.mark.parametrize('resume_epoch', [2, 4, 7])
def test_resume_continues_the_schedule(resume_epoch):
    per_gpu = 16
    ref = ref_schedule(EPOCHS, NB, per_gpu, min_warmup_iters=45)
    wrapper = make_wrapper(per_gpu)
    drive(YOLOv5ScheduleHook(min_warmup_iters=45), wrapper, per_gpu,
          end_epoch=resume_epoch)
    state = wrapper.state_dict()  # what the checkpoint after the epoch holds

    resumed = make_wrapper(per_gpu)
    resumed.load_state_dict(state)
    seen = drive(YOLOv5ScheduleHook(min_warmup_iters=45), resumed, per_gpu,
                 start_epoch=resume_epoch)
    assert min(seen) == resume_epoch * NB and max(seen) == EPOCHS * NB - 1
    assert_same(seen, ref)


def test_resume_in_mid_epoch():
    per_gpu = 16
    ref = ref_schedule(EPOCHS, NB, per_gpu, min_warmup_iters=45)
    wrapper = make_wrapper(per_gpu)
    drive(YOLOv5ScheduleHook(min_warmup_iters=45), wrapper, per_gpu,
          end_epoch=5)
    seen = drive(YOLOv5ScheduleHook(min_warmup_iters=45), wrapper, per_gpu,
                 start_epoch=4, start_iter=43, end_epoch=8)
    assert_same(seen, ref)


def test_hook_corrects_a_wrong_batch_size():
    # built for 16 per GPU, the dataloader gives 8: YOLOv5's values for 8
    wrapper = make_wrapper(16)
    runner = SimpleNamespace(optim_wrapper=wrapper, max_epochs=EPOCHS, epoch=0,
                             iter=0, train_dataloader=Loader(NB, 8))
    YOLOv5ScheduleHook().before_train(runner)
    assert wrapper.optimizer.param_groups[1]['weight_decay'] == 5e-4
    assert wrapper.accumulate == wrapper._accumulative_counts == 8
    assert wrapper.yolov5_settings['total_batch_size'] == 8
