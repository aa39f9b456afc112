"""tools/compare.py: interleaved latency rounds, exit status, onnxruntime."""
import csv
import importlib.util
import json
import os
import subprocess
import sys
from collections import Counter

import pytest

from tests.conftest import REPO, TINY_TOPDOWN_CFG

COMPARE = REPO / 'tools' / 'compare.py'
YOLOX_CFG = REPO / 'configs' / 'yoloxpose_tiny_1xb4-300e_coco-tiny-256.py'


def _load_compare():
    sys.path.insert(0, str(REPO / 'tools'))
    spec = importlib.util.spec_from_file_location('compare_tool', COMPARE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


compare = _load_compare()


@pytest.mark.parametrize('units,rounds,runs', [(3, 2, 5), (4, 10, 20),
                                               (1, 3, 3), (2, 5, 3)])
def test_schedule_is_round_robin_with_rotating_start(units, rounds, runs):
    order = compare.interleaved_schedule(units, rounds, runs)
    rounds = min(rounds, runs)
    assert len(order) == units * runs
    # every unit gets its runs 0..runs-1, in order
    for u in range(units):
        assert [run for _, v, run in order if v == u] == list(range(runs))
    # rounds follow each other; within one, each unit once as one block,
    # starting at unit r % units and going round
    assert [r for r, _, _ in order] == sorted(r for r, _, _ in order)
    for r in range(rounds):
        units_in_round = [u for q, u, _ in order if q == r]
        blocks = [u for i, u in enumerate(units_in_round)
                  if i == 0 or units_in_round[i - 1] != u]
        assert blocks == [(r + k) % units for k in range(units)]
        per_unit = Counter(units_in_round)
        assert set(per_unit.values()) == {runs // rounds + (r < runs % rounds)}


def test_missing_config_fails_the_run_but_others_are_written(tmp_path):
    """Also the onnxruntime column: a top-down heatmap model exports and is
    timed; YOLOX-Pose cannot be exported and reads n/a with the reason."""
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    from mmpose.apis import init_model
    ckpts = []
    for cfg in (TINY_TOPDOWN_CFG, YOLOX_CFG):
        model = init_model(Config.fromfile(str(cfg)), None, device='cpu')
        ckpts.append(tmp_path / f'{cfg.stem}.pth')
        save_checkpoint({'state_dict': model.state_dict()}, str(ckpts[-1]))
    out = tmp_path / 'out'
    proc = subprocess.run(
        [sys.executable, str(COMPARE), str(TINY_TOPDOWN_CFG), str(YOLOX_CFG),
         'no_such_config.py', '--checkpoints', str(ckpts[0]), str(ckpts[1]),
         '-', '--backend', 'pytorch', 'onnxruntime', '--runs', '4',
         '--rounds', '2', '--warmup', '1', '--work-dir', str(out),
         '--no-progress'],
        capture_output=True, text=True,
        env={**os.environ, 'PYTHONPATH': str(REPO)})
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '1 of 3 configs failed: no_such_config' in proc.stderr
    rows = json.loads((out / 'results.json').read_text())['results']
    td, yolox, missing = rows
    assert 'config not found: no_such_config.py' in missing['error']
    for r in (td, yolox):
        assert r['error'] is None
        assert r['latency_runs'] == 4 and r['latency_rounds'] == 2
        assert r['latency_q1_ms'] <= r['latency_ms'] <= r['latency_q3_ms']
    try:
        import onnxruntime  # noqa: F401

        from posekit_plugins.deployment import ONNXPoseRunner  # noqa: F401
    except ImportError as e:
        assert td['onnx_error'].startswith('n/a (')
        pytest.skip(f'onnxruntime / deployment API unavailable: {e}')
    assert td['onnx_error'] is None and (out / td['label'] / 'model.onnx').is_file()
    assert (td['onnx_latency_q1_ms'] <= td['onnx_latency_ms']
            <= td['onnx_latency_q3_ms']) and td['onnx_latency_ms'] > 0
    assert yolox['onnx_error'].startswith('n/a (ValueError: unsupported model '
                                          'family')
    assert 'onnx_latency_ms' not in yolox
    table = (out / 'results.md').read_text()
    assert 'onnxruntime ms (median [q1, q3])' in table
    assert 'timed in 2 interleaved rounds' in table
    td_line = next(line for line in table.splitlines()
                   if line.startswith(f'| {td["label"]} |'))
    assert f'| {td["onnx_latency_ms"]:.1f} [' in td_line
    assert '| n/a (ValueError: unsupported model family' in table
    (td_csv, yolox_csv, _) = csv.DictReader((out / 'results.csv').open())
    assert float(td_csv['onnx_latency_ms']) == pytest.approx(
        td['onnx_latency_ms'])
    assert yolox_csv['onnx_error'] == yolox['onnx_error']
    assert td_csv['latency_rounds'] == '2'
