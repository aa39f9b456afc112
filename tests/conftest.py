"""Shared paths and helpers for the test suite."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / 'data'
COCO_TINY = DATA / 'coco_tiny'
COCO_TINY_ANN = COCO_TINY / 'test_coco.json'
COCO_MINI = DATA / 'coco_mini'
TINY_TOPDOWN_CFG = REPO / 'configs' / 'td-hm_res18_1xb12-300e_coco-tiny-128x96.py'

# The package under test is the checkout, not a copy installed elsewhere.
sys.path.insert(0, str(REPO))


def run_cmd(args, cwd=None, env=None, timeout=900) -> subprocess.CompletedProcess:
    """Run a command, failing the test with its output if it fails."""
    full_env = {**os.environ, 'PYTHONPATH': str(REPO), **(env or {})}
    proc = subprocess.run(
        [str(a) for a in args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{args} exited {proc.returncode}\n--- stdout\n'
                    f'{proc.stdout[-6000:]}\n--- stderr\n{proc.stderr[-6000:]}')
    return proc


@pytest.fixture(autouse=True)
def _register_all():
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules(init_default_scope=True)
