"""mim train / mim test from another directory, and 2-process CPU training."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, TINY_TOPDOWN_CFG, run_cmd

VENV_BIN = Path(sys.executable).parent
QUICK = ['train_cfg.max_epochs=2', 'train_cfg.val_interval=2',
         'param_scheduler.0.end=2', 'default_hooks.checkpoint.interval=2']


@pytest.mark.skipif(shutil.which('mim', path=str(VENV_BIN)) is None,
                    reason='openmim is not installed')
def test_mim_train_and_test_from_any_directory(tmp_path):
    mim = VENV_BIN / 'mim'
    cfg = 'configs/' + TINY_TOPDOWN_CFG.name  # resolved inside the package
    env = dict(PYTHONPATH='')  # only the installed package may be used
    run_cmd([mim, 'train', 'posekit_plugins', cfg, '--work-dir', 'wd',
             '--cfg-options', *QUICK], cwd=tmp_path, env=env)
    ckpt = tmp_path / 'wd' / 'epoch_2.pth'
    assert ckpt.is_file()
    out = run_cmd([mim, 'test', 'posekit_plugins', cfg, '--checkpoint', ckpt,
                   '--work-dir', 'wd_test', '--out', 'metrics.json'],
                  cwd=tmp_path, env=env)
    metrics = json.loads((tmp_path / 'metrics.json').read_text())
    assert {'coco/AP', 'coco/AR'} <= set(metrics)
    assert 'coco/AP' in out.stdout + out.stderr


def test_distributed_training_two_cpu_processes(tmp_path):
    run_cmd(['bash', REPO / 'tools' / 'dist_train.sh', TINY_TOPDOWN_CFG, 2,
             '--work-dir', tmp_path, '--cfg-options', *QUICK,
             'train_dataloader.batch_size=6'],
            env=dict(PYTHON=sys.executable, PORT='29533', OMP_NUM_THREADS='1'))
    log = next(tmp_path.glob('*/*.log')).read_text()
    assert 'Distributed training: True' in log
    assert 'GPU number: 2' in log or 'world_size: 2' in log.lower() \
        or "'world_size': 2" in log
    assert (tmp_path / 'epoch_2.pth').is_file()
    assert 'coco/AP' in log


def test_tools_use_the_checkout_and_mim_copy_the_installed_package(tmp_path):
    probe = ('import sys; sys.path.insert(0, sys.argv[1]); import _checkout; '
             'import posekit_plugins; print(posekit_plugins.__file__)')
    checkout = run_cmd([sys.executable, '-c', probe, REPO / 'tools'],
                       cwd=tmp_path, env=dict(PYTHONPATH=''))
    assert Path(checkout.stdout.strip()).parent == REPO / 'posekit_plugins'
    where = subprocess.run(
        [sys.executable, '-c', 'import posekit_plugins as p; print(p.__file__)'],
        cwd=tmp_path, env={**os.environ, 'PYTHONPATH': ''},
        capture_output=True, text=True)
    mim_tools = Path(where.stdout.strip()).parent / '.mim' / 'tools'
    if where.returncode != 0 or not mim_tools.is_dir():
        pytest.skip('posekit_plugins is not installed (no .mim copy)')
    installed = run_cmd([sys.executable, '-c', probe, mim_tools],
                        cwd=tmp_path, env=dict(PYTHONPATH=''))
    assert Path(installed.stdout.strip()).parent != REPO / 'posekit_plugins'
