"""Converting the authors' HigherHRNet / SWAHR checkpoints
(posekit_plugins.utils.swahr_convert, tools/model_converters/swahr2mmpose.py)
on a tiny-width model that the authors' code built
(tests/data/swahr/model_tiny_swahr.pth, tools/make_swahr_model_fixture.py)."""
import collections
import hashlib
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmpose.registry import MODELS

from posekit_plugins.utils import ConversionError, convert_swahr_checkpoint
from tests.conftest import REPO

FIXTURE = REPO / 'tests' / 'data' / 'swahr' / 'model_tiny_swahr.pth'
TINY_CFG = REPO / 'configs' / \
    'ae_higherhrnet-tiny_swahr-1xb4-300e_coco-tiny-256x256.py'
TINY_PLAIN_CFG = REPO / 'configs' / \
    'ae_higherhrnet-tiny_1xb4-300e_coco-tiny-256x256.py'
SCRIPT = REPO / 'tools' / 'model_converters' / 'swahr2mmpose.py'


def _config(swahr: bool = True) -> Config:
    """The tiny config at the fixture's widths (HRNet-W32 / 8)."""
    cfg = Config.fromfile(TINY_CFG if swahr else TINY_PLAIN_CFG)
    extra = cfg.model.backbone.extra
    extra.stage1.update(num_blocks=(4, ), num_channels=(64, ))
    extra.stage2.update(num_channels=(4, 8))
    extra.stage3.update(num_channels=(4, 8, 16))
    extra.stage4.update(num_channels=(4, 8, 16, 32))
    cfg.model.head.update(in_channels=4, deconv_out_channels=(4, ),
                          num_basic_blocks=2)
    return cfg


def _source():
    return torch.load(FIXTURE, map_location='cpu', weights_only=True)


def test_converts_every_tensor():
    src = _source()
    cfg = _config()
    sd = convert_swahr_checkpoint(FIXTURE, cfg)
    model = MODELS.build(cfg.model)
    assert list(sd) == list(model.state_dict())
    model.load_state_dict(sd, strict=True)
    assert len(sd) == len(src)
    for k, v in src.items():
        top = k.split('.', 1)[0]
        ours = ('head.' if top in ('final_layers', 'deconv_layers',
                                   'conv_scale_layers') else 'backbone.') + k
        torch.testing.assert_close(sd[ours], v.float() if
                                   v.is_floating_point() else v)


def test_state_dict_input_and_module_prefix():
    src = _source()
    wrapped = collections.OrderedDict(
        (f'module.{k}', v) for k, v in src.items())
    a = convert_swahr_checkpoint(src, _config())
    b = convert_swahr_checkpoint(wrapped, _config())
    assert list(a) == list(b)
    for k in a:
        torch.testing.assert_close(a[k], b[k])


def test_plain_higherhrnet_checkpoint():
    plain = {k: v for k, v in _source().items()
             if not k.startswith('conv_scale_layers.')}
    sd = convert_swahr_checkpoint(plain, _config(swahr=False))
    MODELS.build(_config(swahr=False).model).load_state_dict(sd, strict=True)
    with pytest.raises(ConversionError) as e:
        convert_swahr_checkpoint(plain, _config(swahr=True))
    assert 'no SWAHR scale branch' in str(e.value)
    assert any('conv_scale_layers' in m for m in e.value.missing)
    with pytest.raises(ConversionError) as e:
        convert_swahr_checkpoint(_source(), _config(swahr=False))
    assert 'SWAHR checkpoint' in str(e.value)
    assert any(u.startswith('head.conv_scale_layers.')
               for u in e.value.unexpected)


def test_error_lists_every_problem():
    src = collections.OrderedDict(_source())
    src['extra_layer.weight'] = torch.zeros(3)
    src['module.foo'] = torch.zeros(1)
    del src['final_layers.1.bias']
    src['final_layers.0.weight'] = torch.zeros(7, 4, 1, 1)
    with pytest.raises(ConversionError) as e:
        convert_swahr_checkpoint(src, _config())
    err = e.value
    assert set(err.unmatched) == {'extra_layer.weight', 'module.foo'}
    assert err.missing == ['head.final_layers.1.bias']
    assert len(err.mismatched) == 1
    assert err.mismatched[0].startswith(
        'head.final_layers.0.weight <- final_layers.0.weight: (7, 4, 1, 1)')
    msg = str(err)
    for item in ('extra_layer.weight', 'module.foo',
                 'head.final_layers.1.bias', 'final_layers.0.weight'):
        assert item in msg


def test_wider_config_is_refused():
    """The fixture does not fit the W32 tiny config (widths differ)."""
    with pytest.raises(ConversionError) as e:
        convert_swahr_checkpoint(FIXTURE, Config.fromfile(TINY_CFG))
    assert len(e.value.mismatched) > 100


def _run(*args):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
        text=True, timeout=600, cwd=REPO)


def test_cli_writes_checkpoint_with_meta(tmp_path):
    cfg = _config()
    cfg_path = tmp_path / 'tiny_fixture_cfg.py'
    cfg.dump(str(cfg_path))
    dst = tmp_path / 'out' / 'converted.pth'
    proc = _run(FIXTURE, dst, '--config', cfg_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'wrote' in proc.stdout
    ckpt = torch.load(dst, map_location='cpu', weights_only=True)
    meta = ckpt['meta']
    assert meta['source']['sha256'] == hashlib.sha256(
        FIXTURE.read_bytes()).hexdigest()
    assert meta['source']['path'] == str(FIXTURE)
    assert meta['config'] == str(cfg_path)
    assert meta['arch'] == 'swahr'
    assert meta['original_keys']['head.final_layers.0.weight'] == \
        'final_layers.0.weight'
    model = MODELS.build(cfg.model)
    model.load_state_dict(ckpt['state_dict'], strict=True)


def test_cli_error_writes_nothing(tmp_path):
    src = dict(_source())
    src['stray.weight'] = torch.zeros(2)
    bad = tmp_path / 'bad.pth'
    torch.save(src, bad)
    cfg_path = tmp_path / 'tiny_fixture_cfg.py'
    _config().dump(str(cfg_path))
    dst = tmp_path / 'converted.pth'
    proc = _run(bad, dst, '--config', cfg_path)
    assert proc.returncode == 1
    assert 'stray.weight' in proc.stderr
    assert 'nothing was written' in proc.stderr
    assert not dst.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'bad.pth', 'tiny_fixture_cfg.py']
