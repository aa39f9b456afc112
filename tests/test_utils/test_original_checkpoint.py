"""Reading released YOLOv5-family checkpoints without their code."""
import copy
import functools
import os
import subprocess
import sys
import types
import warnings
import zipfile

import numpy as np
import pytest
import torch
import torch.nn as nn

from posekit_plugins.utils.original_checkpoint import (
    CorruptCheckpointError,
    InertObject,
    UnsafeCheckpointError,
    load_original_checkpoint,
    restricted_pickle_module,
)

ORIGINAL_MODULES = ('models', 'models.common', 'models.yolo')


def _define_original_classes() -> dict:
    """Stand-ins for the originals' classes, named as they are."""

    class Contract(nn.Module):

        def __init__(self, gain=2):
            super().__init__()
            self.gain = gain

    class Conv(nn.Module):

        def __init__(self, c1, c2, k=1, g=1):
            super().__init__()
            self.conv = nn.Conv2d(c1, c2, k, 1, k // 2, groups=g, bias=False)
            self.bn = nn.BatchNorm2d(c2, eps=1e-3, momentum=0.03)
            self.act = nn.SiLU()

    class Focus(nn.Module):

        def __init__(self, c1, c2, contract=True):
            super().__init__()
            if contract:
                self.contract = Contract(gain=2)
            self.conv = Conv(c1 * 4, c2, 3)

    class Bottleneck(nn.Module):

        def __init__(self, c):
            super().__init__()
            self.cv1 = Conv(c, c, 1)
            self.cv2 = Conv(c, c, 3)

    class C3(nn.Module):

        def __init__(self, c1, c2, n=1):
            super().__init__()
            self.cv1 = Conv(c1, c2 // 2)
            self.cv2 = Conv(c1, c2 // 2)
            self.cv3 = Conv(c2, c2)
            self.m = nn.Sequential(*(Bottleneck(c2 // 2) for _ in range(n)))

    class Detect(nn.Module):
        stride = None

        def __init__(self, ch=(8, ), na=3, no=6):
            super().__init__()
            self.nl, self.na = len(ch), na
            self.grid = [torch.zeros(1)] * self.nl
            a = torch.arange(1, 1 + 2 * na * self.nl, dtype=torch.float32)
            self.register_buffer('anchors', a.view(self.nl, na, 2))
            self.register_buffer('anchor_grid',
                                 a.clone().view(self.nl, 1, na, 1, 1, 2))
            self.m = nn.ModuleList(nn.Conv2d(c, na * no, 1) for c in ch)

    class Model(nn.Module):

        def __init__(self, contract=True):
            super().__init__()
            self.yaml = {'nc': 1, 'depth_multiple': 0.33,
                         'anchors': [[1, 2, 3, 4, 5, 6]]}
            self.model = nn.Sequential(
                Focus(3, 8, contract), Conv(8, 8, 3), C3(8, 8, n=2), Detect())
            self.model[-1].stride = torch.tensor([8.])
            self.names = ['person']
            self.register_buffer('scratch', torch.zeros(2), persistent=False)

    return dict(Contract=Contract, Conv=Conv, Focus=Focus,
                Bottleneck=Bottleneck, C3=C3, Detect=Detect, Model=Model)


@pytest.fixture
def original_classes():
    """Installs ``models.common``/``models.yolo`` holding the stand-ins while
    the test pickles; ``forget()`` removes them before loading."""
    saved = {name: sys.modules.get(name) for name in ORIGINAL_MODULES}
    mods = {name: types.ModuleType(name) for name in ORIGINAL_MODULES}
    classes = _define_original_classes()
    for name, cls in classes.items():
        module = mods['models.yolo' if name in ('Detect', 'Model')
                      else 'models.common']
        cls.__module__, cls.__qualname__ = module.__name__, name
        setattr(module, name, cls)
    sys.modules.update(mods)

    def forget():
        for name in ORIGINAL_MODULES:
            sys.modules.pop(name, None)

    classes = types.SimpleNamespace(forget=forget, **classes)
    yield classes
    forget()
    sys.modules.update({k: v for k, v in saved.items() if v is not None})


def _training_checkpoint(model: nn.Module, ema: bool = True) -> dict:
    """The dict the originals' train.py saves (fp16 module objects)."""
    return {
        'epoch': 7,
        'best_fitness': np.array([0.25]),
        'training_results': 'results',
        'model': copy.deepcopy(model).half(),
        'ema': copy.deepcopy(model).half() if ema else None,
        'updates': 12,
        'optimizer': {'state': {}, 'param_groups': [
            {'lr': 0.01, 'betas': (0.9, 0.999), 'params': [0, 1]}]},
        'wandb_id': None,
    }


def _assert_state_dict_equal(loaded, reference) -> None:
    assert list(loaded) == list(reference)
    for key, ref in reference.items():
        expected = ref.float() if ref.is_floating_point() else ref
        assert loaded[key].dtype == expected.dtype, key
        assert torch.equal(loaded[key], expected), key


@pytest.mark.parametrize('ema', [True, False])
def test_module_checkpoint_loads_without_the_original_code(
        tmp_path, original_classes, ema):
    model = original_classes.Model()
    with torch.no_grad():  # distinct values, exact in fp16
        for i, p in enumerate(model.parameters()):
            p.copy_(torch.arange(p.numel()).view_as(p) % 7 + i)
    path = tmp_path / 'last.pt'
    torch.save(_training_checkpoint(model, ema=ema), path)
    original_classes.forget()

    state, info = load_original_checkpoint(path)

    _assert_state_dict_equal(state, model.half().state_dict())
    assert 'model.0.conv.bn.num_batches_tracked' in state
    assert 'scratch' not in state  # non-persistent buffer
    assert 'model.3.anchors' in state and 'model.3.anchor_grid' in state
    assert not any(name in sys.modules for name in ORIGINAL_MODULES)
    assert info['used'] == ('ema' if ema else 'model')
    assert info['format'] == 'module'
    assert info['keys'] == ['epoch', 'best_fitness', 'training_results',
                            'model', 'ema', 'updates', 'optimizer', 'wandb_id']
    assert info['epoch'] == 7 and info['best_fitness'] == 0.25
    assert info['focus_contract'] is True
    assert info['dtypes'] == ['torch.float16', 'torch.int64']
    assert {'models.yolo.Model', 'models.common.Focus',
            'models.common.Contract', 'torch.nn.modules.conv.Conv2d'} <= set(
                info['classes'])
    assert info['modules']['model.0']['class'] == 'models.common.Focus'
    assert info['modules']['model.0.contract']['attrs'] == {'gain': 2}
    assert info['modules']['model.3']['attrs']['stride'] == [8.0]
    assert info['modules']['model.0.conv.bn']['attrs']['eps'] == 1e-3
    assert info['yaml']['depth_multiple'] == 0.33


def test_focus_without_contract_is_recorded(tmp_path, original_classes):
    path = tmp_path / 'kapao.pt'
    torch.save(_training_checkpoint(original_classes.Model(contract=False)),
               path)
    original_classes.forget()
    state, info = load_original_checkpoint(path)
    assert info['focus_contract'] is False
    assert 'model.0.conv.conv.weight' in state


def test_whole_pickled_module_and_legacy_format(tmp_path, original_classes):
    model = original_classes.Model()
    path = tmp_path / 'legacy.pt'
    with warnings.catch_warnings():  # torch finds no source of the classes
        warnings.simplefilter('ignore')
        torch.save(model, path, _use_new_zipfile_serialization=False)
    original_classes.forget()
    state, info = load_original_checkpoint(path)
    _assert_state_dict_equal(state, model.state_dict())
    assert info['used'] == '<root>' and info['keys'] == []


@pytest.mark.parametrize('wrap', [
    lambda sd: sd,
    lambda sd: {'state_dict': sd, 'meta': {'epoch': 1}},
    lambda sd: {'model': sd, 'epoch': 3},
])
def test_plain_state_dicts_load(tmp_path, wrap):
    sd = {'model.0.conv.conv.weight': torch.randn(2, 12, 3, 3).half(),
          'model.0.conv.bn.num_batches_tracked': torch.tensor(5)}
    path = tmp_path / 'sd.pt'
    torch.save(wrap(sd), path)
    state, info = load_original_checkpoint(path)
    _assert_state_dict_equal(state, sd)
    assert info['format'] == 'state_dict'
    assert info['focus_contract'] is None and info['modules'] == {}


class _Payload:
    """Pickles as a call of ``func(*args)``."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker):
    cmd = f'touch {marker}'
    return {
        'os.system': _Payload(os.system, cmd),
        'builtins.eval': _Payload(eval, f'open({str(marker)!r}, "w")'),
        'builtins.exec': _Payload(exec, f'open({str(marker)!r}, "w")'),
        'subprocess.call': _Payload(subprocess.call, ['touch', str(marker)]),
        'functools.partial': _Payload(functools.partial, os.system, cmd),
        'builtins.getattr': _Payload(getattr, 'text', 'upper'),
        'builtins.open': _Payload(open, str(marker), 'w'),
    }


@pytest.mark.parametrize('name', list(_payloads('x')))
@pytest.mark.parametrize('legacy', [False, True])
def test_code_in_the_pickle_is_refused_and_never_runs(tmp_path, name, legacy):
    marker = tmp_path / 'pwned'
    payload = _payloads(marker)[name]
    path = tmp_path / 'evil.pt'
    # hidden inside an otherwise ordinary checkpoint
    torch.save({'epoch': 1, 'model': {'w': torch.ones(1)}, 'opt': payload},
               path, _use_new_zipfile_serialization=not legacy)
    with pytest.raises(UnsafeCheckpointError) as err:
        load_original_checkpoint(path)
    global_name = name.split('.')[-1]
    assert f'.{global_name}' in str(err.value)
    assert 'refusing to load' in str(err.value) and str(path) in str(err.value)
    assert isinstance(err.value, ValueError)
    assert not marker.exists()


def test_unsafe_global_inside_a_module_state_is_refused(
        tmp_path, original_classes):
    marker = tmp_path / 'pwned'
    ckpt = _training_checkpoint(original_classes.Model())
    # (after the deepcopy in _training_checkpoint, which would run it)
    ckpt['ema'].model[1].hook = _Payload(os.system, f'touch {marker}')
    path = tmp_path / 'evil.pt'
    torch.save(ckpt, path)
    original_classes.forget()
    with pytest.raises(UnsafeCheckpointError, match='system'):
        load_original_checkpoint(path)
    assert not marker.exists()


def test_torchscript_archives_are_refused(tmp_path):
    path = tmp_path / 'scripted.pt'
    torch.jit.save(torch.jit.script(nn.Conv2d(1, 1, 1)), str(path))
    with pytest.raises(UnsafeCheckpointError, match='TorchScript'):
        load_original_checkpoint(path)


def _corruptions(data: bytes, tmp_path) -> dict:
    no_record = tmp_path / 'no_record.zip'
    with zipfile.ZipFile(tmp_path / 'good.pt') as zin, \
            zipfile.ZipFile(no_record, 'w') as zout:
        for item in zin.infolist():
            if not item.filename.endswith('data/0'):
                zout.writestr(item, zin.read(item))
    return {
        'half': data[:len(data) // 2],
        'tail': data[:-20],
        'empty': b'',
        'not_torch': b'hello, world',
        'missing_storage': no_record.read_bytes(),
    }


@pytest.mark.parametrize(
    'kind', ['half', 'tail', 'empty', 'not_torch', 'missing_storage',
             'legacy_half'])
def test_truncated_or_corrupt_files_fail_clearly(tmp_path, kind):
    good = tmp_path / 'good.pt'
    ckpt = {'epoch': 1, 'model': {'model.0.w': torch.randn(64, 64).half()}}
    torch.save(ckpt, good)
    if kind == 'legacy_half':
        torch.save(ckpt, tmp_path / 'legacy.pt',
                   _use_new_zipfile_serialization=False)
        legacy = (tmp_path / 'legacy.pt').read_bytes()
        data = legacy[:len(legacy) // 2]
    else:
        data = _corruptions(good.read_bytes(), tmp_path)[kind]
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(data)
    with pytest.raises(CorruptCheckpointError,
                       match='not a complete torch checkpoint'):
        load_original_checkpoint(bad)


def test_missing_file_and_files_without_weights(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_original_checkpoint(tmp_path / 'absent.pt')
    path = tmp_path / 'noweights.pt'
    torch.save({'epoch': 1, 'model': None, 'ema': None}, path)
    with pytest.raises(ValueError, match='no weights found'):
        load_original_checkpoint(path)


def test_restricted_pickle_module_loads_data_and_stubs_classes(
        original_classes):
    import pickle
    mod = restricted_pickle_module('<test>')
    data = pickle.dumps({'a': {1, 2}, 'b': np.float64(0.5), 'c': b'xy',
                         'd': slice(1, 3)}, protocol=2)
    out = mod.loads(data)
    assert out == {'a': {1, 2}, 'b': 0.5, 'c': b'xy', 'd': slice(1, 3)}

    class Holder:  # pickled by reference to a module of the originals
        pass

    Holder.__module__, Holder.__qualname__ = 'models.common', 'Holder'
    sys.modules['models.common'].Holder = Holder
    h = Holder()
    h.value = 3
    data = pickle.dumps(h, protocol=2)
    original_classes.forget()
    stub = mod.loads(data)
    assert isinstance(stub, InertObject)
    assert stub.inert_name == 'models.common.Holder'
    assert stub.inert_dict == {'value': 3}
    with pytest.raises(UnsafeCheckpointError, match="'posix.system'"):
        mod.loads(b'\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00true'
                  b'q\x01\x85q\x02Rq\x03.')
