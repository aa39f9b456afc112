"""mmengine checkpoints load under weights_only=True; nothing else does."""
import io
import os
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import _load_checkpoint


def mmengine_like_checkpoint(path):
    hub = MessageHub.get_instance('posekit_ckpt_test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', np.float64(0.25))
    torch.save({
        'meta': {'epoch': 3, 'iter': 9, 'seed': np.int64(7),
                 'mean': np.array([1.0, 2.0], dtype=np.float32)},
        'state_dict': {'w': torch.arange(4.0)},
        'message_hub': hub.state_dict(),
    }, path)


def _torch_load_defaults_to_weights_only() -> bool:
    """Whether a plain ``torch.load`` refuses a numpy scalar (torch >= 2.6)."""
    buf = io.BytesIO()
    torch.save({'x': np.float64(1.0)}, buf)
    buf.seek(0)
    try:
        torch.load(buf)
    except pickle.UnpicklingError:
        return True
    return False


# Before torch 2.6, torch.load defaults to weights_only=False and torch has no
# safe_globals: mmengine's loaders then load as they always did and the
# allowlist is not installed (enable_mmengine_checkpoint_loading is a no-op).
needs_weights_only_default = pytest.mark.skipif(
    not _torch_load_defaults_to_weights_only(),
    reason=f'torch {torch.__version__}: torch.load defaults to '
    'weights_only=False (torch < 2.6), so there is nothing to restrict')


class _Evil:
    def __init__(self, reduce):
        self.reduce = reduce

    def __reduce__(self):
        return self.reduce


@needs_weights_only_default
def test_plain_torch_load_refuses_mmengine_checkpoints(tmp_path):
    """The reason for the fix: torch's default is weights_only=True."""
    path = tmp_path / 'c.pth'
    mmengine_like_checkpoint(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)


def test_mmengine_loader_reads_its_checkpoints(tmp_path):
    path = tmp_path / 'c.pth'
    mmengine_like_checkpoint(path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['seed'] == 7 and ckpt['meta']['epoch'] == 3
    np.testing.assert_array_equal(ckpt['meta']['mean'], [1.0, 2.0])
    assert torch.equal(ckpt['state_dict']['w'], torch.arange(4.0))
    buf = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.current() == 0.25 and buf.mean() == pytest.approx(0.375)


@needs_weights_only_default
def test_allowlist_is_scoped_to_mmengine_loaders(tmp_path):
    path = tmp_path / 'c.pth'
    mmengine_like_checkpoint(path)
    _load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(pickle.UnpicklingError):  # still strict afterwards
        torch.load(path)


@needs_weights_only_default
@pytest.mark.parametrize('reduce', [
    (os.system, ('echo pwned',)),
    (getattr, (HistoryBuffer, '__init__')),
    (getattr, (np.zeros(1), 'tofile')),
])
def test_other_objects_are_still_refused(tmp_path, reduce):
    path = tmp_path / 'evil.pth'
    torch.save({'meta': {}, 'x': _Evil(reduce)}, path)
    with pytest.raises(pickle.UnpicklingError):
        _load_checkpoint(str(path), map_location='cpu')
