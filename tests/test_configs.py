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


@pytest.mark.parametrize(
    'path', [p for p in CONFIGS
             if '_crowdpose-' in p.name and 'crowdpose-tiny' not in p.name],
    ids=lambda p: p.name)
def test_full_crowdpose_configs_read_data_crowdpose(path: Path):
    cfg = Config.fromfile(path)
    train, val = cfg.train_dataloader.dataset, cfg.val_dataloader.dataset
    assert train.data_root == val.data_root == 'data/crowdpose/'
    assert train.ann_file == 'annotations/mmpose_crowdpose_trainval.json'
    assert val.ann_file == 'annotations/mmpose_crowdpose_test.json'
    assert cfg.num_keypoints == 14
    assert cfg.val_evaluator.iou_type == 'keypoints_crowd'
    assert cfg.val_evaluator.use_area is False


def test_kapao_crowdpose_trains_as_the_original():
    """KAPAO's README: --img 1280 --batch 128 (4 GPUs) --epochs 300 on
    trainval, no validation during training."""
    cfg = Config.fromfile(
        REPO / 'configs' / 'kapao_s6_4xb32-300e_crowdpose-1280.py')
    assert cfg.train_dataloader.batch_size == 32  # x 4 GPUs = 128
    assert cfg.train_cfg.max_epochs == cfg.train_cfg.val_interval == 300
    assert cfg.codec.input_size == (1280, 1280)
    assert cfg.model.head.type == 'KAPAOHead'
    assert cfg.model.head.num_keypoints == 14
