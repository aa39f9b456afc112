"""The paper one-stage configs train as written (model, optimiser, schedule,
EMA, augmentation) on the shipped images, with finite losses.

Only the s6 640 configs run here (about 1 s per iteration each on 2 CPU
cores); ``tools/smoke_train_configs.py`` runs all of them (the 1280 l6 takes
about 40 s per iteration on CPU), see docs/onestage_training.md.
"""
import math
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / 'tools'))  # tools/ is not a package
from smoke_train_configs import PAPER_CONFIGS, smoke_config  # noqa: E402


def test_paper_config_list_is_complete():
    names = {p.rsplit('/', 1)[-1] for p in PAPER_CONFIGS}
    assert {'yolopose_s6_4xb16-300e_coco-640.py',
            'kapao_s6_4xb32-500e_coco-1280.py',
            'kapao_l6_4xb12-500e_coco-1280.py'} <= names
    assert len(names) == 8


@pytest.mark.parametrize('name', ['yolopose_s6_4xb16-300e_coco-640.py',
                                  'kapao_s6_4xb16-300e_coco-640.py'])
def test_paper_config_trains_with_finite_losses(name, tmp_path):
    row = smoke_config(str(REPO / 'configs' / name), iters=3, batch=2,
                       work_dir=str(tmp_path))
    assert row['iters'] == 3
    assert row['finite'], row
    assert math.isfinite(row['first']) and row['first'] > 0
