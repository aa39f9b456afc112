"""(e) Every paper config builds YOLOv5's optimizer on its real model: the
three groups cover all parameters, the weight decay is scaled for the
paper's 4-GPU batch, the schedule / EMA hooks are YOLOv5's."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmpose.registry import MODELS

from posekit_plugins.engine import YOLOv5OptimWrapper
from tests.conftest import REPO

from ._reference import ref_accumulate, ref_param_groups, ref_weight_decay

PAPER = sorted([*(REPO / 'configs').glob('yolopose_[sml]6_*.py'),
                *(REPO / 'configs').glob('kapao_[sml]6_*.py')])


def test_paper_configs_found():
    # 8 COCO configs and the 3 CrowdPose ones (YOLO-Pose s6, KAPAO s6 at
    # 640 and at 1280)
    assert len(PAPER) == 11
    assert sum('_crowdpose-' in p.name for p in PAPER) == 3


@pytest.mark.parametrize('path', PAPER, ids=[p.name for p in PAPER])
def test_builds_yolov5_optimizer(path: Path):
    cfg = Config.fromfile(path)
    cfg.model.pop('init_cfg', None)
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model)
    optim_cfg = cfg.optim_wrapper.copy()
    optim_cfg.paramwise_cfg = dict(optim_cfg.paramwise_cfg, world_size=4)
    wrapper = build_optim_wrapper(model, optim_cfg)
    assert isinstance(wrapper, YOLOv5OptimWrapper)
    assert wrapper.accumulate_rule == (
        'since_last_step' if 'kapao' in path.name else 'modulo')

    per_gpu = cfg.train_dataloader.batch_size
    assert cfg.optim_wrapper.paramwise_cfg.batch_size_per_gpu == per_gpu
    total = 4 * per_gpu
    assert total == int(path.name.split('_')[2].split('-')[0][0]) * per_gpu
    groups = wrapper.optimizer.param_groups
    for g, r in zip(groups, ref_param_groups(model)):
        assert [id(p) for p in g['params']] == [id(p) for p in r]
    n_grouped = sum(len(g['params']) for g in groups)
    assert n_grouped == len(list(model.parameters()))  # nothing left out
    assert [g['weight_decay'] for g in groups] == [
        0, ref_weight_decay(5e-4, total), 0]
    assert all(g['lr'] == 0.01 and g['momentum'] == 0.937 and g['nesterov']
               for g in groups)
    assert wrapper.accumulate == ref_accumulate(total) == 1
    assert not wrapper.clip_grad_kwargs

    assert cfg.param_scheduler == []
    hooks = {h.type: h for h in cfg.custom_hooks}
    assert set(hooks) == {'YOLOv5ScheduleHook', 'YOLOv5EMAHook'}
    sched = hooks['YOLOv5ScheduleHook']
    assert (sched.lrf, sched.schedule, sched.warmup_epochs,
            sched.min_warmup_iters, sched.warmup_bias_lr,
            sched.warmup_momentum) == (0.2, 'cosine', 3.0, 1000, 0.1, 0.8)
    assert cfg.train_cfg.max_epochs == (500 if '500e' in path.name else 300)
    ema = hooks['YOLOv5EMAHook']
    assert (ema.ema_type, ema.decay, ema.tau) == ('YOLOv5ModelEMA', 0.9999,
                                                   2000)
