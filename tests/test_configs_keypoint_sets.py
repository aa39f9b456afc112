"""Any keypoint set from one dataset base file: a config's CrowdPose (K=14)
twin differs from its COCO (K=17) twin only in its `_base_` line, and a
model/data K mismatch stops a run before its first iteration."""
import difflib
import re
from pathlib import Path

import pytest
from mmengine.config import Config
from mmengine.runner import Runner
from mmpose.registry import MODELS

from posekit_plugins.engine.hooks import head_num_keypoints
from tests.conftest import REPO

CONFIGS = REPO / 'configs'
CROWDPOSE = sorted(CONFIGS.glob('*_crowdpose*.py'))


def coco_twin(path: Path) -> Path:
    return path.with_name(path.name.replace('_crowdpose', '_coco'))


TWINS = [p for p in CROWDPOSE if coco_twin(p).is_file()]


def code_lines(path: Path):
    """The file's lines after its leading comment block (its header says
    what the file is; the code is what must match)."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines)
                 if not line.startswith('#'))
    return lines[start:]


def changed_lines(a: Path, b: Path):
    diff = difflib.unified_diff(code_lines(a), code_lines(b), lineterm='',
                                n=0)
    return [line for line in diff
            if line[:1] in '+-' and not line.startswith(('+++', '---'))]


def test_every_tiny_config_has_a_crowdpose_twin():
    methods = {re.sub(r'_(coco|crowdpose)-tiny.*', '', p.name)
               for p in CONFIGS.glob('*_crowdpose-tiny-*.py')}
    assert {'td-hm_res18_1xb12-300e', 'td-hm_res18_dark-1xb12-300e',
            'td-hm_res18_swahr-1xb12-300e', 'td-hm_res18_swahr-dark-1xb12-300e',
            'yolopose_tiny_1xb4-300e', 'kapao_tiny_1xb4-300e',
            'ae_higherhrnet-tiny_1xb4-300e',
            'ae_higherhrnet-tiny_swahr-1xb4-300e'} <= methods
    assert len(TWINS) >= 13


@pytest.mark.parametrize('path', TWINS, ids=[p.name for p in TWINS])
def test_crowdpose_twin_differs_only_in_its_base_line(path: Path):
    changed = changed_lines(coco_twin(path), path)
    # one line out, one line in, both naming a base file
    assert len(changed) == 2, changed
    old, new = changed
    assert old.startswith('-') and new.startswith('+')
    assert old[1:].replace('coco', 'crowdpose') == new[1:], (old, new)
    assert re.search(r"'\./.*\.py'", new)


def test_k14_twin_differs_in_dataset_base_line_and_head_k():
    """The example of configs/README.md: the tiny top-down twins."""
    coco = CONFIGS / 'td-hm_res18_1xb12-300e_coco-tiny-128x96.py'
    crowd = CONFIGS / 'td-hm_res18_1xb12-300e_crowdpose-tiny-128x96.py'
    assert changed_lines(coco, crowd) == [
        "-    './_base_/datasets/coco-tiny_topdown.py',",
        "+    './_base_/datasets/crowdpose-tiny_topdown.py',",
    ]
    models = {}
    for path in (coco, crowd):
        cfg = Config.fromfile(path)
        model = MODELS.build(cfg.model)
        # the head's last conv has one output channel per keypoint
        models[path] = (cfg, model, model.head.final_layer.out_channels)
    (c17, m17, k17), (c14, m14, k14) = models[coco], models[crowd]
    assert (k17, k14) == (17, 14)
    assert (head_num_keypoints(m17), head_num_keypoints(m14)) == (17, 14)
    assert c14.num_keypoints == 14 and c14.dataset_metainfo_file.endswith(
        'crowdpose.py')
    # the data and the metric follow the same line
    assert c14.train_dataloader.dataset.metainfo == dict(
        from_file='configs/_base_/datasets/crowdpose.py')
    assert c14.val_evaluator.iou_type == 'keypoints_crowd'
    assert c17.val_evaluator.get('iou_type', 'keypoints') == 'keypoints'


@pytest.mark.parametrize('name,k_attr', [
    ('yolopose_tiny_1xb4-300e_crowdpose-tiny-256.py', 'num_keypoints'),
    ('kapao_tiny_1xb4-300e_crowdpose-tiny-256.py', 'num_keypoints'),
    ('ae_higherhrnet-tiny_1xb4-300e_crowdpose-tiny-256x256.py',
     'num_keypoints'),
])
def test_one_stage_and_bottom_up_twins_take_k_and_sigmas_from_the_base(
        name, k_attr):
    cfg = Config.fromfile(CONFIGS / name)
    model = MODELS.build(cfg.model)
    assert getattr(model.head, k_attr) == 14
    loss_kpt = getattr(model.head, 'loss_kpt', None)
    sigmas = getattr(loss_kpt, 'sigmas', None)
    if sigmas is not None:  # YOLO-Pose's OKS loss: CrowdPose's sigmas
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        expected = parse_pose_metainfo(
            dict(from_file=cfg.dataset_metainfo_file))['sigmas']
        assert sigmas.numel() == 14
        assert sigmas.cpu().numpy() == pytest.approx(expected, rel=1e-6)
    if name.startswith('kapao'):  # person + 14 keypoint-object classes
        assert model.head.num_classes == 15


def test_model_k_differs_from_data_k_names_both_files(tmp_path):
    """A COCO (K=17) model on the CrowdPose (K=14) data: the default hook of
    _base_/default_runtime.py stops training before the first iteration."""
    cfg = Config.fromfile(CONFIGS / 'td-hm_res18_1xb12-300e_coco-tiny-128x96.py')
    crowd = Config.fromfile(
        CONFIGS / 'td-hm_res18_1xb12-300e_crowdpose-tiny-128x96.py')
    cfg.train_dataloader = crowd.train_dataloader
    cfg.work_dir = str(tmp_path)
    cfg.visualizer = dict(type='PoseLocalVisualizer', vis_backends=[])
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ValueError) as err:
        runner.train()
    msg = str(err.value)
    assert 'K=14' in msg and 'K=17' in msg and 'HeatmapHead' in msg
    assert 'crowdpose_tiny.json' in msg and 'crowdpose.py' in msg
    assert 'td-hm_res18_1xb12-300e_coco-tiny-128x96.py' in msg
    assert runner.iter == 0
