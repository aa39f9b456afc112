"""tools/compare.py end to end on a two-config tiny suite, plus bad input."""
import csv
import json
import os
import subprocess
import sys

import cv2
import pytest
from pycocotools.coco import COCO

from tests.conftest import REPO

COMPARE = REPO / 'tools' / 'compare.py'
PLAIN = 'td-hm_res18_1xb12-300e_coco-tiny-128x96.py'
DARK = 'td-hm_res18_dark-1xb12-300e_coco-tiny-128x96.py'
IMAGE = REPO / 'data' / 'coco_tiny' / '000000196141.jpg'


def test_two_config_suite_writes_agreeing_table_json_csv_plot(tmp_path):
    broken = tmp_path / 'broken.py'
    broken.write_text(
        f"_base_ = ['{REPO / 'configs' / PLAIN}']\n"
        "model = dict(head=dict(type='NoSuchHead'))\n")
    mismatched = tmp_path / 'mismatched.pth'
    import torch
    torch.save({'state_dict': {'foo.weight': torch.zeros(1)}}, mismatched)
    proc = subprocess.run(
        [str(a) for a in [sys.executable, COMPARE, PLAIN, DARK, broken, PLAIN,
                          '--checkpoints', '-', '-', '-', mismatched,
                          '--max-epochs', '2', '--runs', '3', '--warmup', '1',
                          '--draw', IMAGE,
                          '--work-dir', tmp_path / 'out', '--no-progress']],
        capture_output=True, text=True, env={**os.environ,
                                             'PYTHONPATH': str(REPO)})
    # two configs failed: non-zero exit, the others' results still written
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert '2 of 4 configs failed' in proc.stderr
    out = tmp_path / 'out'
    data = json.loads((out / 'results.json').read_text())
    rows = data['results']
    assert [r['label'] for r in rows][:2] == [PLAIN[:-3], DARK[:-3]]
    assert data['environment']['mmpose'].startswith('1.3')

    good, bad_build, bad_ckpt = rows[:2], rows[2], rows[3]
    coco = COCO(str(REPO / 'data' / 'coco_tiny' / 'test_coco.json'))
    persons = [sum(a['num_keypoints'] > 0 for a in coco.loadAnns(
        coco.getAnnIds(imgIds=i, iscrowd=False))) for i in coco.getImgIds()]
    timed = [n for n in persons if n][:3]  # --runs 3: the first 3 images
    crops = sum(timed) / len(timed)
    assert 'NoSuchHead' in bad_build['error']
    assert 'does not match the config' in bad_ckpt['error']
    table = (out / 'results.md').read_text()
    csv_rows = list(csv.DictReader((out / 'results.csv').open()))
    for r, c in zip(good, csv_rows):
        assert r['error'] is None and r['trained']
        assert 0.0 <= r['AP'] <= 1.0 and r['latency_ms'] > 0
        assert r['latency_q1_ms'] <= r['latency_ms'] <= r['latency_q3_ms']
        assert r['params_M'] > 1 and r['flops_G'] > 0.1
        assert r['input_size'] == '96x128'
        # top-down latency covers every person crop of each timed image
        assert r['latency_images'] == 3
        assert r['latency_runs'] == 3 and r['latency_rounds'] == 3
        assert c['latency_rounds'] == '3'
        assert r['crops_per_image'] == pytest.approx(crops) and crops > 1
        line = next(line for line in table.splitlines()
                    if line.startswith(f'| {r["label"]} |'))
        assert f'| {r["AP"]:.3f} |' in line
        assert f'| {r["latency_ms"]:.1f} [' in line
        assert f'| {r["params_M"]:.2f} |' in line
        assert f'| 96x128, {crops:.1f} crops/image |' in line
        assert float(c['AP']) == pytest.approx(r['AP'])
        assert float(c['latency_ms']) == pytest.approx(r['latency_ms'])
        # the picture is the image with skeletons drawn over it
        assert r['picture_error'] is None and c['picture'] == r['picture']
        drawn, image = cv2.imread(r['picture']), cv2.imread(str(IMAGE))
        assert drawn.shape == image.shape and (drawn != image).any()
    # the two models share the architecture: same size and cost
    assert good[0]['params_M'] == good[1]['params_M']
    assert good[0]['flops_G'] == good[1]['flops_G']
    assert 'error: ' in table and 'NoSuchHead' in table
    png = cv2.imread(str(out / 'ap_vs_latency.png'))
    assert png is not None and png.shape[0] > 100 and png.std() > 0


def test_unknown_suite_is_reported():
    proc = subprocess.run([sys.executable, COMPARE, '--suite', 'nope'],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert 'unknown suite "nope"' in proc.stderr and 'heatmap-tiny' in proc.stderr


def test_missing_image_to_draw_is_reported_before_any_training(tmp_path):
    proc = subprocess.run([sys.executable, COMPARE, PLAIN, '--draw',
                           tmp_path / 'nope.jpg', '--work-dir', tmp_path],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and 'no such image' in proc.stderr
    assert not (tmp_path / PLAIN[:-3]).exists()


def test_zero_timed_runs_is_refused(tmp_path):
    proc = subprocess.run([sys.executable, COMPARE, PLAIN, '--runs', '0',
                           '--work-dir', tmp_path],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and '--runs must be at least 1' in proc.stderr
