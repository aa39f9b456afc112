"""Shared paths and helpers for the test suite."""
import fnmatch
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


# Tests that train a model for many iterations or start extra processes
# (model-learns / overfit tests, whole-runner trainings, the demo, the
# distributed and mim runs). Marked `slow` here, in one place, by node id
# (fnmatch patterns): the full run (`bash tools/run_tests.sh`) runs them on
# the main stack; the legacy stack runs the rest (`-m "not slow"`).
SLOW_TESTS = (
    'tests/test_tools/test_demo_learns.py::*',
    'tests/test_tools/test_compare.py::test_two_config_suite_*',
    'tests/test_tools/test_entry_points.py::test_mim_train_and_test_*',
    'tests/test_tools/test_entry_points.py::test_distributed_training_*',
    'tests/test_tools/test_entry_points.py::test_tools_use_the_checkout_*',
    'tests/test_tools/test_smoke_train_configs.py::test_paper_config_trains_*',
    'tests/test_models/test_heads/*::test_tiny_*overfits*',
    'tests/test_datasets/test_crowdpose.py::test_tiny_crowdpose_config_trains_*',
    'tests/test_datasets/test_crowdpose.py::test_topdown_dark_fits_*',
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        nodeid = item.nodeid
        if not nodeid.startswith('tests/'):  # pytest run from inside tests/
            nodeid = 'tests/' + nodeid
        if any(fnmatch.fnmatchcase(nodeid, p) for p in SLOW_TESTS):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _register_all():
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules(init_default_scope=True)
