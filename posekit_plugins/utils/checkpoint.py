"""Loading mmengine's own checkpoints under torch >= 2.6.

torch 2.6 made ``torch.load(..., weights_only=True)`` the default. mmengine
0.10.x loads checkpoints with a bare ``torch.load`` but writes, besides the
tensors, its message hub (``HistoryBuffer`` objects holding numpy arrays) and
numpy scalars; the safe unpickler refuses those, so ``--resume``,
``load_from`` and ``mim test --checkpoint`` fail on checkpoints mmengine has
just written.

What this module does, and what it does not:

- It keeps ``weights_only=True``. It does not set
  ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` or pass ``weights_only=False``, which
  would let any checkpoint run arbitrary code when loaded.
- It allows exactly the types mmengine writes (:data:`MMENGINE_CHECKPOINT_GLOBALS`),
  and only while mmengine's checkpoint loaders run (a
  ``torch.serialization.safe_globals`` context around them), not globally:
  a user's own ``torch.load`` calls keep torch's defaults.
- mmengine's ``HistoryBuffer`` state holds its statistics functions, which
  pickle as ``getattr(HistoryBuffer, 'min')``. Allowing the builtin
  ``getattr`` would let a crafted file reach any attribute of any allowed
  object (e.g. ``ndarray.tofile``); instead the name ``builtins.getattr`` is
  bound to :func:`_history_buffer_getattr`, which resolves only those
  functions and refuses everything else.
- A checkpoint that holds any other object still fails, with torch's message
  naming it; trust it explicitly with
  ``torch.serialization.add_safe_globals([...])`` before loading.
"""
import functools
import pickle
from typing import Callable, List

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct, scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct, scalar


def _numpy_dtype_classes() -> list:
    # numpy >= 1.25 pickles dtypes through their classes (numpy.dtypes.*).
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is None:  # pragma: no cover - old numpy
        return []
    return [getattr(dtypes, name) for name in dir(dtypes)
            if name.endswith('DType') and isinstance(getattr(dtypes, name), type)]


# HistoryBuffer's built-in statistics (registered on first instantiation).
_HISTORY_BUFFER_STATISTICS = {'min', 'max', 'current', 'mean'}


def _history_buffer_getattr(obj: object, name: str) -> Callable:
    """``getattr`` restricted to HistoryBuffer's statistics functions."""
    allowed = _HISTORY_BUFFER_STATISTICS | set(HistoryBuffer._statistics_methods)
    if obj is HistoryBuffer and isinstance(name, str) and name in allowed:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'posekit_plugins: refusing getattr({obj!r}, {name!r}) while loading '
        'an mmengine checkpoint; only HistoryBuffer statistics are allowed. '
        'If you trust this file, allowlist what it needs with '
        'torch.serialization.add_safe_globals.')


#: Everything besides tensors that mmengine 0.10 puts into a checkpoint.
MMENGINE_CHECKPOINT_GLOBALS: List = [
    _reconstruct, scalar, np.ndarray, np.dtype, HistoryBuffer,
    *_numpy_dtype_classes(),
    (_history_buffer_getattr, 'builtins.getattr'),
]

_PATCHED_ATTR = '_posekit_safe_globals'


def _with_safe_globals(loader: Callable) -> Callable:

    @functools.wraps(loader)
    def load(*args, **kwargs):
        with torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS):
            return loader(*args, **kwargs)

    setattr(load, _PATCHED_ATTR, True)
    return load


def enable_mmengine_checkpoint_loading() -> None:
    """Let every mmengine checkpoint loader read mmengine's checkpoints.

    Wraps each loader registered in mmengine's ``CheckpointLoader`` (local
    files, URLs, ``torchvision://``, ...) so that it runs inside
    ``torch.serialization.safe_globals(MMENGINE_CHECKPOINT_GLOBALS)``.
    Idempotent; a no-op on torch versions without ``safe_globals`` (< 2.5),
    which do not default to ``weights_only=True``.
    """
    if not hasattr(torch.serialization, 'safe_globals'):
        return
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if not getattr(loader, _PATCHED_ATTR, False):
            CheckpointLoader._schemes[prefix] = _with_safe_globals(loader)
