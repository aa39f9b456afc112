"""The demo model learns on the shipped images, and its picture is drawn."""
import json
import sys

import cv2

from tests.conftest import COCO_TINY, REPO, TINY_TOPDOWN_CFG, run_cmd


def test_tiny_topdown_model_learns_and_is_drawn(tmp_path):
    run_cmd([sys.executable, REPO / 'tools' / 'train.py', TINY_TOPDOWN_CFG,
             '--work-dir', tmp_path])
    scalars = next(tmp_path.glob('*/vis_data/scalars.json')).read_text()
    records = [json.loads(line) for line in scalars.splitlines()]
    losses = [r['loss'] for r in records if 'loss' in r]
    final = [r for r in records if 'coco/AP' in r][-1]
    # from scratch, 300 iterations: the loss falls and AP is far from 0
    # (about 0.6-0.7 measured; a broken target/decoder gives ~0)
    assert losses[-1] < 0.5 * losses[0]
    assert final['coco/AP'] > 0.4, final

    ckpt = (tmp_path / 'last_checkpoint').read_text().strip()
    image = COCO_TINY / '000000196141.jpg'
    out = tmp_path / 'pred.png'
    run_cmd([sys.executable, REPO / 'tools' / 'visualize.py', TINY_TOPDOWN_CFG,
             ckpt, image, '--out', out])
    drawn, original = cv2.imread(str(out)), cv2.imread(str(image))
    assert drawn.shape == original.shape
    assert (drawn != original).any()  # skeletons were drawn
