"""The pieces inside mmengine's Runner: the tiny YOLO-Pose config switched to
YOLOv5's optimizer, schedule and EMA (accumulation on: nominal batch 8 for
batch 4) trains on the 4 shipped images; the logged lr is the schedule's,
the EMA is updated once per optimizer step, and a run stopped after epoch 2
and resumed ends where the uninterrupted run ends."""
import json

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tests.conftest import REPO

from ._reference import ref_schedule, ref_steps

CFG = REPO / 'configs' / 'yolopose_tiny_1xb4-300e_coco-tiny-256.py'
EPOCHS = 5  # one iteration per epoch (4 images, batch 4)
MIN_WARMUP = 4


def make_cfg(work_dir, name, max_epochs, resume=False):
    cfg = Config.fromfile(CFG)
    cfg.merge_from_dict(dict(
        work_dir=str(work_dir), experiment_name=name, resume=resume,
        load_from=None, val_cfg=None, val_dataloader=None,
        val_evaluator=None, test_cfg=None, test_dataloader=None,
        test_evaluator=None))
    cfg.randomness = dict(seed=0)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=max_epochs)
    cfg.optim_wrapper = dict(
        type='YOLOv5OptimWrapper', constructor='YOLOv5OptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=0.01, momentum=0.937, weight_decay=5e-4,
                       nesterov=True),
        # nominal batch 8: accumulate 2 (ramped from 1 over the warm-up)
        paramwise_cfg=dict(batch_size_per_gpu=4, nominal_batch_size=8))
    cfg.param_scheduler = []
    cfg.auto_scale_lr = dict(enable=False, base_batch_size=64)
    cfg.custom_hooks = [
        dict(type='YOLOv5ScheduleHook', lrf=0.2, max_epochs=EPOCHS,
             min_warmup_iters=MIN_WARMUP),
        dict(type='YOLOv5EMAHook', priority=49),
    ]
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.checkpoint = dict(  # at the last epoch only
        type='CheckpointHook', interval=100, save_best=None)
    return cfg


def load(path):
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(str(path), map_location='cpu')


def test_train_log_ema_and_resume(tmp_path):
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    runner = Runner.from_cfg(make_cfg(straight, 'straight', EPOCHS))
    runner.train()
    wrapper = runner.optim_wrapper
    assert wrapper.amp_enabled == torch.cuda.is_available()

    # the optimizer stepped where YOLOv5's loop steps; one EMA update each
    ref = ref_schedule(EPOCHS, 1, 4, min_warmup_iters=MIN_WARMUP)
    acc = [int(max(1, np.interp(ni, [0, MIN_WARMUP], [1, 8 / 4]).round()))
           for ni in range(EPOCHS)]
    steps = ref_steps(acc, 'modulo')
    assert steps == [0, 1, 2, 4]
    assert wrapper.num_steps == len(steps)
    ema_hook = next(h for h in runner.hooks if type(h).__name__ ==
                    'YOLOv5EMAHook')
    assert int(ema_hook.ema_model.steps) == len(steps)

    # the lr logged at each iteration is the schedule's (group 0)
    scalars = [json.loads(line) for line in
               next(straight.glob('*/vis_data/scalars.json')).read_text()
               .splitlines()]
    logged = {s['iter'] - 1: s['lr'] for s in scalars if 'lr' in s}
    assert sorted(logged) == list(range(EPOCHS))
    for ni, lr in logged.items():
        assert abs(lr - ref[ni][0][0]) <= 1e-9, (ni, lr, ref[ni][0][0])

    # stopped after epoch 2, resumed to 5: the same end state
    Runner.from_cfg(make_cfg(resumed, 'part', 2)).train()
    Runner.from_cfg(make_cfg(resumed, 'resumed', EPOCHS, resume=True)).train()
    a, b = load(straight / f'epoch_{EPOCHS}.pth'), load(
        resumed / f'epoch_{EPOCHS}.pth')
    assert b['meta']['epoch'] == EPOCHS and b['meta']['iter'] == EPOCHS
    for key in ('state_dict', 'ema_state_dict'):  # EMA and raw weights
        assert a[key].keys() == b[key].keys()
        for k, v in a[key].items():
            torch.testing.assert_close(b[key][k], v, rtol=1e-5, atol=1e-6,
                                       msg=f'{key}.{k}')
    assert int(b['ema_state_dict']['steps']) == len(steps)
    ga, gb = a['optimizer']['param_groups'], b['optimizer']['param_groups']
    assert [g['lr'] for g in ga] == [g['lr'] for g in gb]
    assert [g['weight_decay'] for g in gb] == [0, 5e-4, 0]
