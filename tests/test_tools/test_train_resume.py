"""Interrupted training continues from its checkpoint with the same state."""
import sys

import torch
from mmengine.config import Config
from mmengine.runner import Runner

from tests.conftest import REPO, TINY_TOPDOWN_CFG, run_cmd

TRAIN = REPO / 'tools' / 'train.py'
SHORT = ['param_scheduler.0.end=2', 'default_hooks.checkpoint.interval=2',
         'default_hooks.checkpoint.max_keep_ckpts=5',
         'train_dataloader.batch_size=6', 'randomness.deterministic=True']


def train(work_dir, epochs, *extra):
    run_cmd([sys.executable, TRAIN, TINY_TOPDOWN_CFG, '--work-dir', work_dir,
             '--no-validate', '--cfg-options', f'train_cfg.max_epochs={epochs}',
             *SHORT, *extra])


def weights(path):
    # loaded through mmengine's loader (weights_only=True + posekit's allowlist)
    from mmengine.runner.checkpoint import _load_checkpoint
    return _load_checkpoint(str(path), map_location='cpu')


def test_resume_restores_state_and_matches_uninterrupted_run(tmp_path):
    straight, resumed = tmp_path / 'straight', tmp_path / 'resumed'
    train(straight, 4)
    train(resumed, 2)  # "interrupted" after epoch 2 (checkpoint at 2)

    # the state a resumed runner starts from is the checkpoint's
    cfg = Config.fromfile(TINY_TOPDOWN_CFG)
    cfg.merge_from_dict(dict(
        work_dir=str(resumed), resume=True, load_from=None,
        val_cfg=None, val_dataloader=None, val_evaluator=None))
    cfg.train_cfg.max_epochs = 4
    cfg.param_scheduler[0].end = 2
    cfg.train_dataloader.batch_size = 6
    runner = Runner.from_cfg(cfg)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.scale_lr(runner.optim_wrapper, runner.auto_scale_lr)
    runner.param_schedulers = runner.build_param_scheduler(
        runner.param_schedulers)
    runner.load_or_resume()
    ckpt = weights(resumed / 'epoch_2.pth')
    assert runner.epoch == 2 and runner.iter == ckpt['meta']['iter'] == 4
    opt_state = runner.optim_wrapper.state_dict()['state']
    for k, v in ckpt['optimizer']['state'].items():
        assert torch.equal(opt_state[k]['exp_avg'], v['exp_avg'])
    assert [s.state_dict() for s in runner.param_schedulers] == \
        ckpt['param_schedulers']

    # continuing gives the same model as never stopping
    train(resumed, 4, '--resume')
    a, b = weights(straight / 'epoch_4.pth'), weights(resumed / 'epoch_4.pth')
    assert b['meta']['epoch'] == 4 and b['meta']['iter'] == 8
    for k, v in a['state_dict'].items():
        torch.testing.assert_close(b['state_dict'][k], v, rtol=1e-5, atol=1e-6)
    log = (resumed).glob('*/*.log')
    assert any('resumed epoch: 2, iter: 4' in p.read_text() for p in log)
