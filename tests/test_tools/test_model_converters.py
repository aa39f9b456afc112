"""tools/model_converters: released YOLO-Pose / KAPAO / YOLOv5 checkpoints
into our mmpose models, checked completely before anything is written."""
import os
import re
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from posekit_plugins.utils.yolov5_convert import (
    ConversionError,
    build_pose_model,
    convert_yolov5_checkpoint,
    map_yolov5_state_dict,
    permute_focus_weight,
    save_mmengine_checkpoint,
)
from tests.conftest import REPO

CONVERTERS = REPO / 'tools' / 'model_converters'
YOLOPOSE_CFG = 'yolopose_s6_4xb16-300e_coco-960.py'
KAPAO_CFG = 'kapao_s6_4xb32-500e_coco-1280.py'
FIXTURES = REPO / 'tests' / 'data' / 'onestage'

# naming.md, original -> ours (the spec the converter implements)
LAYERS = {
    0: 'backbone.stem', 1: 'backbone.stage1.0', 2: 'backbone.stage1.1',
    3: 'backbone.stage2.0', 4: 'backbone.stage2.1', 5: 'backbone.stage3.0',
    6: 'backbone.stage3.1', 7: 'backbone.stage4.0', 8: 'backbone.stage4.1',
    9: 'backbone.stage5.0', 10: 'backbone.stage5.1', 11: 'backbone.stage5.2',
    12: 'neck.reduce_convs.0', 15: 'neck.top_down_blocks.0',
    16: 'neck.reduce_convs.1', 19: 'neck.top_down_blocks.1',
    20: 'neck.reduce_convs.2', 23: 'neck.top_down_blocks.2',
    24: 'neck.downsamples.0', 26: 'neck.bottom_up_blocks.0',
    27: 'neck.downsamples.1', 29: 'neck.bottom_up_blocks.1',
    30: 'neck.downsamples.2', 32: 'neck.bottom_up_blocks.2',
}
C3_LAYERS = {2, 4, 6, 8, 11, 15, 19, 23, 26, 29, 32}
OURS_TO_ORIGINAL_IN_C3 = [(r'^main_conv\.', 'cv1.'), (r'^short_conv\.', 'cv2.'),
                          (r'^final_conv\.', 'cv3.'),
                          (r'^blocks\.(\d+)\.conv([12])\.', r'm.\1.cv\2.')]
STRIDES = (8, 16, 32, 64)


def contract(x):
    """edgeai-yolov5's Contract(gain=2): phases (0,0), (0,1), (1,0), (1,1)."""
    n, c, h, w = x.shape
    x = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 3, 5, 1, 2, 4)
    return x.reshape(n, 4 * c, h // 2, w // 2)


def focus_slices(x):
    """YOLOv5's / mmdet's Focus slicing."""
    return torch.cat([x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2],
                      x[..., 1::2, 1::2]], 1)


# ------------------------------------------------------------- unit tests
def test_focus_permutation_turns_contract_weights_into_slicing_weights():
    x = torch.randn(2, 3, 8, 10)
    w = torch.randn(5, 12, 3, 3)
    expected = F.conv2d(contract(x), w, padding=1)
    got = F.conv2d(focus_slices(x), permute_focus_weight(w), padding=1)
    torch.testing.assert_close(got, expected)
    assert torch.equal(permute_focus_weight(permute_focus_weight(w)), w)


def test_kapao_head_split_reproduces_the_original_outputs():
    c, na, d, e = 8, 3, 23, 34
    w, b = torch.randn(na * (d + e), c, 1, 1), torch.randn(na * (d + e))
    mapped = map_yolov5_state_dict(
        {'model.33.m.1.weight': w, 'model.33.m.1.bias': b}, 'kapao').state_dict
    x = torch.randn(2, c, 4, 5)
    original = F.conv2d(x, w, b).view(2, na, d + e, 4, 5)
    det = F.conv2d(x, mapped['head.det_convs.1.weight'],
                   mapped['head.det_convs.1.bias']).view(2, na, d, 4, 5)
    extra = F.conv2d(x, mapped['head.extra_convs.1.0.weight'],
                     mapped['head.extra_convs.1.0.bias']).view(2, na, e, 4, 5)
    torch.testing.assert_close(torch.cat([det, extra], 2), original)


@pytest.mark.parametrize('original, ours', [
    ('model.0.conv.conv.weight', 'backbone.stem.conv.conv.weight'),
    ('model.1.bn.running_var', 'backbone.stage1.0.bn.running_var'),
    ('model.2.cv1.conv.weight', 'backbone.stage1.1.main_conv.conv.weight'),
    ('model.2.cv2.bn.bias', 'backbone.stage1.1.short_conv.bn.bias'),
    ('model.11.cv3.bn.num_batches_tracked',
     'backbone.stage5.2.final_conv.bn.num_batches_tracked'),
    ('model.4.m.2.cv1.conv.weight', 'backbone.stage2.1.blocks.2.conv1.conv.weight'),
    ('model.32.m.0.cv2.bn.weight', 'neck.bottom_up_blocks.2.blocks.0.conv2.bn.weight'),
    ('model.10.cv1.conv.weight', 'backbone.stage5.1.conv1.conv.weight'),
    ('model.10.cv2.bn.running_mean', 'backbone.stage5.1.conv2.bn.running_mean'),
    ('model.20.conv.weight', 'neck.reduce_convs.2.conv.weight'),
    ('model.27.bn.weight', 'neck.downsamples.1.bn.weight'),
    ('model.33.m.3.bias', 'head.det_convs.3.bias'),
    ('model.33.m_kpt.2.10.bn.weight', 'head.extra_convs.2.10.bn.weight'),
    ('model.33.m_kpt.2.11.weight', 'head.extra_convs.2.11.weight'),
])
def test_mapping_follows_the_naming_table(original, ours):
    t = torch.zeros(3)
    mapping = map_yolov5_state_dict({original: t}, 'yolopose')
    assert list(mapping.state_dict) == [ours]
    assert mapping.origin == {ours: original} and not mapping.unmatched


def test_mapping_lists_what_it_cannot_place():
    src = {'model.13.weight': torch.zeros(1),  # Upsample has no params
           'model.2.cv4.conv.weight': torch.zeros(1),
           'model.1.conv.bias': torch.zeros(1),  # a fused Conv
           'head.weird': torch.zeros(1),
           'model.33.m_kpt.0.weight': torch.zeros(1),  # not in KAPAO
           'model.33.anchors': torch.ones(4, 3, 2),
           'model.33.m.0.weight': torch.zeros(10, 4, 1, 1)}
    mapping = map_yolov5_state_dict(src, 'kapao')
    assert mapping.unmatched == ['model.13.weight', 'model.2.cv4.conv.weight',
                                 'model.1.conv.bias', 'head.weird',
                                 'model.33.m_kpt.0.weight']
    assert set(mapping.buffers) == {'anchors'}
    assert len(mapping.problems) == 1 and 'model.33.m.0.weight' in \
        mapping.problems[0]
    skipped = map_yolov5_state_dict(
        {'model.33.m.0.weight': torch.zeros(1), 'model.20.conv.weight':
         torch.zeros(1)}, 'yolopose', with_neck=False, with_head=False)
    assert skipped.skipped == ['model.33.m.0.weight', 'model.20.conv.weight']
    assert not skipped.state_dict and not skipped.unmatched


# --------------------------------------------------- synthetic originals
def small_config(tmp_path: Path, base: str, widen: float = 0.125,
                 deepen: float = 0.33) -> Path:
    """The base config at another width/depth (1/8 width by default)."""
    ch = [int(c * widen) for c in (256, 512, 768, 1024)]
    blocks = max(round(3 * deepen), 1)
    path = tmp_path / f'small_{base}'
    path.write_text(
        f'_base_ = [{str(REPO / "configs" / base)!r}]\n'
        f'model = dict(\n'
        f'    backbone=dict(widen_factor={widen}, deepen_factor={deepen}),\n'
        f'    neck=dict(in_channels={ch}, num_csp_blocks={blocks}),\n'
        f'    head=dict(in_channels={ch}))\n')
    return path


def random_model(config: Path, seed: int = 0) -> nn.Module:
    model = build_pose_model(str(config))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if '.loss_' in name:  # constants (OKS sigmas), not weights
                continue
            if t.is_floating_point():
                t.copy_(torch.randn(t.shape, generator=gen))
                if name.endswith('running_var'):
                    t.abs_().add_(0.5)
            else:
                t.fill_(7)
    return model


def to_original(model: nn.Module, arch: str, contract: bool) -> dict:
    """Our model's weights under the original names (naming.md, inverted)."""
    head = model.head
    out = {}
    by_prefix = {v: k for k, v in LAYERS.items()}
    pending_kapao = {}
    for key, t in model.state_dict().items():
        if '.loss_' in key:  # our loss constants; the originals have none
            continue
        t = t.clone()
        m = re.match(r'^head\.(det_convs|extra_convs)\.(\d+)\.(.+)$', key)
        if m:
            kind, level, rest = m.groups()
            if arch == 'yolopose':
                prefix = 'm' if kind == 'det_convs' else 'm_kpt'
                out[f'model.33.{prefix}.{level}.{rest}'] = t
            else:
                leaf = rest.split('.')[-1]
                pending_kapao.setdefault((level, leaf), {})[kind] = t
            continue
        prefix = next(p for p in by_prefix if key.startswith(p + '.'))
        index, rest = by_prefix[prefix], key[len(prefix) + 1:]
        if index in C3_LAYERS:
            for pattern, repl in OURS_TO_ORIGINAL_IN_C3:
                rest = re.sub(pattern, repl, rest)
        elif index == 10:
            rest = re.sub(r'^conv([12])\.', r'cv\1.', rest)
        if index == 0 and rest == 'conv.conv.weight' and contract:
            t = permute_focus_weight(t)
        out[f'model.{index}.{rest}'] = t
    na = head.num_anchors
    for (level, leaf), parts in pending_kapao.items():
        det, extra = parts['det_convs'], parts['extra_convs']
        shape = det.shape[1:]
        merged = torch.cat([det.view(na, -1, *shape),
                            extra.view(na, -1, *shape)], 1)
        out[f'model.33.m.{level}.{leaf}'] = merged.reshape(-1, *shape)
    strides = torch.tensor(STRIDES, dtype=torch.float32).view(-1, 1, 1)
    out['model.33.anchors'] = head.anchors / strides
    out['model.33.anchor_grid'] = head.anchors.view(4, 1, na, 1, 1, 2).clone()
    return out


def save_original(path: Path, state: dict) -> Path:
    """As the originals' train.py saves, with a plain state dict as model."""
    torch.save({'epoch': 299, 'best_fitness': np.array([0.6]),
                'model': state, 'ema': None, 'optimizer': None,
                'updates': None, 'wandb_id': None}, path)
    return path


def run_converter(name, *args):
    return subprocess.run(
        [sys.executable, str(CONVERTERS / name), *map(str, args)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, 'PYTHONPATH': str(REPO)})


def assert_same_weights(state: dict, model: nn.Module, prefixes=('', )):
    ref = {k: v for k, v in model.state_dict().items()
           if k.startswith(prefixes)}
    assert list(state) == list(ref)
    for k, v in ref.items():
        assert torch.equal(state[k], v), k


@pytest.fixture(scope='module')
def yolopose_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('yolopose')
    cfg = small_config(tmp, YOLOPOSE_CFG)
    model = random_model(cfg)
    src = save_original(tmp / 'yolopose.pt',
                        to_original(model, 'yolopose', contract=True))
    return types.SimpleNamespace(tmp=tmp, cfg=cfg, model=model, src=src)


@pytest.fixture(scope='module')
def kapao_setup(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('kapao')
    cfg = small_config(tmp, KAPAO_CFG)
    model = random_model(cfg, seed=1)
    src = save_original(tmp / 'kapao.pt',
                        to_original(model, 'kapao', contract=False))
    return types.SimpleNamespace(tmp=tmp, cfg=cfg, model=model, src=src)


def test_yolopose_converter_writes_a_checkpoint_mmpose_loads(
        yolopose_setup, tmp_path):
    from mmpose.apis import init_model
    s = yolopose_setup
    dst = tmp_path / 'out' / 'yolopose_s6.pth'
    proc = run_converter('yolopose2mmpose.py', s.src, dst, '--config', s.cfg)
    assert proc.returncode == 0, proc.stderr
    assert 'YOLO-Pose checkpoint' in proc.stdout and 'contract' in proc.stdout

    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    assert_same_weights(ckpt['state_dict'], s.model)
    meta = ckpt['meta']
    assert meta['source']['path'] == str(s.src)
    assert len(meta['source']['sha256']) == 64
    assert meta['source']['used'] == 'model'
    assert meta['config'] == str(s.cfg)
    assert meta['converter'] == 'tools/model_converters/yolopose2mmpose.py'
    assert meta['focus_order'] == 'contract' and meta['arch'] == 'yolopose'
    assert meta['original_keys']['backbone.stage1.1.main_conv.conv.weight'] \
        == 'model.2.cv1.conv.weight'
    loaded = init_model(str(s.cfg), str(dst), device='cpu')
    assert_same_weights(loaded.state_dict(), s.model)


def test_kapao_converter_round_trip(kapao_setup, tmp_path):
    s = kapao_setup
    state, meta = convert_yolov5_checkpoint(s.src, s.cfg, 'kapao')
    assert_same_weights(state, s.model)
    assert meta['focus_order'] == 'slice'  # a plain state dict from KAPAO
    dst = save_mmengine_checkpoint(state, meta, tmp_path / 'kapao.pth')
    assert [p.name for p in tmp_path.iterdir()] == ['kapao.pth']
    model = build_pose_model(s.cfg)
    from mmengine.runner import load_checkpoint
    load_checkpoint(model, dst, map_location='cpu', strict=True)
    assert_same_weights(model.state_dict(), s.model)


def test_focus_order_can_be_forced(yolopose_setup):
    s = yolopose_setup
    state, meta = convert_yolov5_checkpoint(s.src, s.cfg, 'yolopose',
                                            focus='slice')
    key = 'backbone.stem.conv.conv.weight'
    assert meta['focus_order'] == 'slice'
    assert torch.equal(state[key],
                       permute_focus_weight(s.model.state_dict()[key]))


def test_every_unmatched_missing_and_misshaped_key_is_listed(
        yolopose_setup, tmp_path):
    s = yolopose_setup
    src = to_original(s.model, 'yolopose', contract=True)
    del src['model.2.cv1.conv.weight'], src['model.33.m_kpt.1.11.bias']
    src['model.2.cv1.conv.bias'] = torch.zeros(4)
    src['model.40.conv.weight'] = torch.zeros(4)
    src['model.5.conv.weight'] = src['model.5.conv.weight'][:, :-1]
    src['model.33.m.0.bias'] = src['model.33.m.0.bias'][:-2]
    path = save_original(tmp_path / 'broken.pt', src)
    with pytest.raises(ConversionError) as err:
        convert_yolov5_checkpoint(path, s.cfg, 'yolopose')
    e = err.value
    assert e.unmatched == ['model.2.cv1.conv.bias', 'model.40.conv.weight']
    assert e.missing == ['backbone.stage1.1.main_conv.conv.weight',
                         'head.extra_convs.1.11.bias']
    assert [m.split(' <- ')[0] for m in e.mismatched] == [
        'backbone.stage3.0.conv.weight', 'head.det_convs.0.bias']
    for key in e.unmatched + e.missing:
        assert key in str(e)
    assert 'model.5.conv.weight' in str(e) and 'model.33.m.0.bias' in str(e)

    dst = tmp_path / 'never.pth'
    proc = run_converter('yolopose2mmpose.py', path, dst, '--config', s.cfg)
    assert proc.returncode == 1
    assert 'model.40.conv.weight' in proc.stderr
    assert 'nothing was written' in proc.stderr
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['broken.pt']


def test_a_kapao_checkpoint_is_not_converted_to_yolopose(
        kapao_setup, yolopose_setup, tmp_path):
    dst = tmp_path / 'wrong.pth'
    proc = run_converter('yolopose2mmpose.py', kapao_setup.src, dst,
                         '--config', yolopose_setup.cfg)
    assert proc.returncode == 1
    assert 'KAPAO checkpoint' in proc.stderr
    assert 'kapao2mmpose.py' in proc.stderr
    assert not dst.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(ConversionError, match='YOLO-Pose checkpoint'):
        convert_yolov5_checkpoint(yolopose_setup.src, kapao_setup.cfg,
                                  'kapao')


def test_anchors_must_match_the_config(yolopose_setup, tmp_path):
    s = yolopose_setup
    src = to_original(s.model, 'yolopose', contract=True)
    src['model.33.anchors'] = src['model.33.anchors'] * 1.01
    path = save_original(tmp_path / 'anchors.pt', src)
    with pytest.raises(ConversionError, match='anchors differ') as err:
        convert_yolov5_checkpoint(path, s.cfg, 'yolopose')
    assert not err.value.missing and not err.value.unmatched


@pytest.mark.parametrize('with_neck', [False, True])
def test_backbone_only_from_a_yolov5_detector(yolopose_setup, tmp_path,
                                              with_neck):
    s = yolopose_setup
    src = {k: v for k, v in to_original(s.model, 'yolopose', False).items()
           if not k.startswith('model.33.m')}
    for level, c in enumerate(s.model.head.in_channels):  # COCO: 3 x 85
        src[f'model.33.m.{level}.weight'] = torch.randn(255, c, 1, 1)
        src[f'model.33.m.{level}.bias'] = torch.randn(255)
    path = save_original(tmp_path / 'yolov5s6.pt', src)
    parts = ('backbone.', 'neck.') if with_neck else ('backbone.', )
    state, meta = convert_yolov5_checkpoint(
        path, s.cfg, 'yolopose', backbone_only=True, with_neck=with_neck)
    assert_same_weights(state, s.model, parts)
    assert meta['focus_order'] == 'slice' and meta['backbone_only']
    assert 'YOLOv5 detector checkpoint' in meta['source']['description']

    # as a backbone init_cfg (Pretrained, prefix='backbone.')
    dst = save_mmengine_checkpoint(state, meta, tmp_path / 'backbone.pth')
    from mmengine.config import Config
    cfg = Config.fromfile(str(s.cfg))
    cfg.model.backbone.init_cfg = dict(type='Pretrained', checkpoint=str(dst),
                                       prefix='backbone.')
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpose'):
        model = MODELS.build(cfg.model)
    model.backbone.init_weights()
    assert_same_weights(
        {f'backbone.{k}': v for k, v in model.backbone.state_dict().items()},
        s.model, ('backbone.', ))


# ------------------------------------------- module-object checkpoints
ORIGINAL_MODULES = ('models', 'models.common', 'models.yolo')


def _stand_in(module: str, name: str) -> type:
    cls = type(name, (nn.Module, ), {'__module__': module, '__qualname__': name})
    return cls


@pytest.fixture
def original_classes():
    saved = {name: sys.modules.get(name) for name in ORIGINAL_MODULES}
    mods = {name: types.ModuleType(name) for name in ORIGINAL_MODULES}
    classes = {}
    for name in ('Conv', 'Focus', 'Contract', 'C3', 'Bottleneck', 'SPP',
                 'SPPF'):
        classes[name] = _stand_in('models.common', name)
    for name in ('Model', 'Detect'):
        classes[name] = _stand_in('models.yolo', name)
    for name, cls in classes.items():
        setattr(mods[cls.__module__], name, cls)
    sys.modules.update(mods)
    yield types.SimpleNamespace(**classes)
    for name in ORIGINAL_MODULES:
        sys.modules.pop(name, None)
    sys.modules.update({k: v for k, v in saved.items() if v is not None})


def module_tree(state: dict, classes, contract: bool, act=nn.SiLU,
                spp: str = 'edgeai', width: float = 0.125) -> nn.Module:
    """An original-like pickled Model from a flat original state dict."""
    leaves = ('weight', 'bias', 'running_mean', 'running_var',
              'num_batches_tracked', 'anchors', 'anchor_grid')
    root = classes.Model()
    root.model = nn.Sequential()
    layer_class = {0: classes.Focus, 10: classes.SPP, 33: classes.Detect,
                   **{i: classes.C3 for i in C3_LAYERS}}
    for key, t in state.items():
        parts = key.split('.')
        node = root.model
        for depth in range(1, len(parts) - 1):
            name = parts[depth]
            child = node._modules.get(name)
            if child is None:
                nxt = parts[depth + 1:]
                if depth == 1:
                    child = layer_class.get(int(name), classes.Conv)()
                    if isinstance(child, classes.Conv):
                        child.act = act()
                elif len(nxt) == 1 and nxt[0] in leaves:
                    child = nn.BatchNorm2d(1, eps=1e-3) if name == 'bn' \
                        else nn.Conv2d(1, 1, 1)
                    child._parameters.clear()
                    child._buffers.clear()
                elif len(nxt) == 2 and nxt[0] in ('conv', 'bn'):
                    child = classes.Conv()
                    child.act = act()
                elif len(nxt) >= 3 and nxt[1] in ('cv1', 'cv2'):
                    child = nn.Sequential()
                else:
                    child = classes.Bottleneck() if parts[depth - 1] == 'm' \
                        and isinstance(node, nn.Sequential) and \
                        parts[depth - 2] != '33' else nn.ModuleList()
                node.add_module(name, child)
            node = child
        leaf = parts[-1]
        if leaf in ('weight', 'bias'):
            node._parameters[leaf] = nn.Parameter(t.clone())
        else:
            node._buffers[leaf] = t.clone()
    layers = root.model._modules  # by name ('0'..'33'), not position
    if contract:
        layers['0'].contract = classes.Contract()
        layers['0'].contract.gain = 2
    if spp == 'edgeai':  # chained 3x3 pools: 3, 5, 7
        layers['10'].m = nn.ModuleList(
            nn.Sequential(*[nn.MaxPool2d(3, 1, 1)] * n) for n in (1, 2, 3))
    else:  # ultralytics' SPPF(k=5) == SPP(5, 9, 13)
        layers['10'].__class__ = classes.SPPF
        layers['10'].m = nn.MaxPool2d(5, 1, 2)
    layers['33'].stride = torch.tensor(STRIDES, dtype=torch.float32)
    root.yaml = {'nc': 1, 'nkpt': 17, 'depth_multiple': 0.33,
                 'width_multiple': width}
    return root


def save_module_checkpoint(path, tree, classes_fixture):
    torch.save({'epoch': -1, 'best_fitness': np.array([0.62]),
                'training_results': None, 'model': tree.half(), 'ema': None,
                'updates': None, 'optimizer': None, 'wandb_id': None}, path)
    for name in ORIGINAL_MODULES:
        sys.modules.pop(name, None)


def test_module_object_checkpoint_converts(yolopose_setup, original_classes,
                                           tmp_path):
    s = yolopose_setup
    tree = module_tree(to_original(s.model, 'yolopose', contract=True),
                       original_classes, contract=True)
    path = tmp_path / 'yolopose_release.pt'
    save_module_checkpoint(path, tree, original_classes)
    state, meta = convert_yolov5_checkpoint(path, s.cfg, 'yolopose')
    assert meta['focus_order'] == 'contract'
    assert meta['source']['format'] == 'module'
    assert meta['source']['dtypes'] == ['torch.float16', 'torch.int64']
    ref = {k: v.half().float() if v.is_floating_point() and '.loss_' not in k
           else v for k, v in s.model.state_dict().items()}
    assert list(state) == list(ref)
    for k, v in ref.items():
        assert torch.equal(state[k], v), k


@pytest.mark.parametrize('act, spp, width, message', [
    (nn.ReLU, 'edgeai', 0.125, 'activation relu in the source, silu in ours'),
    (nn.SiLU, 'sppf', 0.125, 'SPP kernels [5, 9, 13] in the source'),
    (nn.SiLU, 'edgeai', 0.75, 'width_multiple 0.75 vs widen_factor 0.125'),
])
def test_architecture_mismatches_recorded_in_modules_are_caught(
        yolopose_setup, original_classes, tmp_path, act, spp, width, message):
    s = yolopose_setup
    tree = module_tree(to_original(s.model, 'yolopose', contract=True),
                       original_classes, contract=True, act=act, spp=spp,
                       width=width)
    path = tmp_path / 'ti_lite.pt'
    save_module_checkpoint(path, tree, original_classes)
    with pytest.raises(ConversionError, match=re.escape(message)) as err:
        convert_yolov5_checkpoint(path, s.cfg, 'yolopose')
    assert not err.value.missing and not err.value.mismatched


# ---------------------------------------- fixtures from the original code
@pytest.mark.parametrize('name, arch, base, kwargs', [
    ('yolopose_tiny', 'yolopose', YOLOPOSE_CFG, {}),
    ('kapao_tiny', 'kapao', KAPAO_CFG, {}),
    ('yolov5s6_det_tiny', 'yolopose', YOLOPOSE_CFG,
     dict(backbone_only=True, with_neck=True)),
])
def test_checkpoints_saved_by_the_original_code_convert(tmp_path, name, arch,
                                                        base, kwargs):
    """The checkpoints tools/make_onestage_fixtures.py makes with the
    original code: they convert, load, and the converted model reproduces
    the original's backbone features / raw head outputs."""
    from posekit_plugins.utils import load_original_checkpoint
    src = FIXTURES / f'{name}.pt'
    if not src.is_file():
        pytest.skip(f'{src} not present')
    yaml = load_original_checkpoint(src)[1]['yaml']
    cfg = small_config(tmp_path, base, widen=yaml['width_multiple'],
                       deepen=yaml['depth_multiple'])
    state, meta = convert_yolov5_checkpoint(src, cfg, arch, **kwargs)
    assert meta['source']['format'] == 'module'
    model = build_pose_model(cfg)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected
    assert not missing if not kwargs else \
        all(k.startswith('head.') for k in missing)

    tensors = FIXTURES / f'{name}_tensors.npz'
    if not tensors.is_file():
        return
    ref = np.load(tensors)
    bgr = ref['input_bgr_uint8']
    x = torch.from_numpy(np.ascontiguousarray(
        bgr[:, :, ::-1].transpose(2, 0, 1))).float()[None] / 255
    with torch.no_grad():
        feats = model.backbone(x)
        if kwargs:  # the detector: backbone stage outputs
            expected = [ref[f'backbone_{i}'] for i in (4, 6, 8, 11)]
            outs = feats
        else:
            expected = [ref[f'head_{lvl}'] for lvl in range(4)]
            outs = model.head.forward(model.neck(feats))
    for out, exp in zip(outs, expected):
        # the original fuses Conv+BN before inference: fp32 rounding only
        # (about 1e-4 of the largest value)
        torch.testing.assert_close(out, torch.from_numpy(exp), rtol=1e-3,
                                   atol=2e-4 * float(np.abs(exp).max()))
