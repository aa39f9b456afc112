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
- A checkpoint that holds any other object still fails, with torch's message
  naming it; trust it explicitly with
  ``torch.serialization.add_safe_globals([...])`` before loading.
"""
import functools
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


#: Everything besides tensors that mmengine 0.10 puts into a checkpoint.
MMENGINE_CHECKPOINT_GLOBALS: List = [
    _reconstruct, scalar, np.ndarray, np.dtype, HistoryBuffer,
    *_numpy_dtype_classes()
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
