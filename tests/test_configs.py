"""Every shipped config parses, and builds its model and its datasets' codecs."""
from pathlib import Path

import pytest
from mmengine.config import Config
from mmpose.registry import MODELS

from tests.conftest import REPO

CONFIGS = sorted((REPO / 'configs').glob('*.py'))


def test_configs_exist():
    assert len(CONFIGS) >= 3


@pytest.mark.parametrize('path', CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_builds_model(path: Path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmpose'
    assert 'posekit_plugins' in cfg.custom_imports['imports']
    model = MODELS.build(cfg.model)
    assert sum(p.numel() for p in model.parameters()) > 0
    # the codec used to make training targets is the one the head decodes with
    train_pipeline = cfg.train_dataloader.dataset.get('pipeline', [])
    encoders = [t['encoder'] for t in train_pipeline
                if t.get('type') == 'GenerateTarget']
    decoder = cfg.model.get('head', {}).get('decoder')
    if encoders and decoder is not None and not isinstance(encoders[0], list):
        assert encoders[0]['type'] == decoder['type']
        for key in ('input_size', 'heatmap_size', 'sigma'):
            assert encoders[0].get(key) == decoder.get(key), key


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS
             if '_coco-' in p.name and 'coco-tiny' not in p.name],
    ids=lambda p: p.name)
def test_full_coco_configs_read_data_coco(path: Path):
    cfg = Config.fromfile(path)
    assert cfg.train_dataloader.dataset.data_root == 'data/coco/'
