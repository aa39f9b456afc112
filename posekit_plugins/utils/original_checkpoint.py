"""Reading the checkpoints that the YOLOv5-based pose repositories release.

YOLO-Pose (edgeai-yolov5) and KAPAO save their training checkpoints as
``torch.save({'epoch', 'best_fitness', 'model', 'ema', 'optimizer', ...})``
where ``model``/``ema`` are whole pickled ``nn.Module`` objects (fp16) of
their own classes (``models.yolo.Model``, ``models.common.Conv``, ...).
Loading them the usual way needs the original code importable and runs
whatever the pickle names, so :func:`load_original_checkpoint` reads them
with a restricted unpickler instead:

- tensors, parameters and storages are rebuilt with torch's own functions;
- classes of ``torch.nn.modules`` and of the originals' packages (``models``,
  ``utils``) are **not imported**: each becomes an :class:`InertObject`
  subclass of the same name that only records the state pickle hands it;
- numpy arrays/scalars (``best_fitness``), ``collections.OrderedDict`` and
  a few inert builtins (``set``, ``frozenset``, ``slice``, ...) are allowed;
- every other global (``posix.system``, ``builtins.eval``, ``subprocess``,
  ``functools.partial``, ...) is refused with
  :class:`UnsafeCheckpointError`, which names it, before anything runs.

The recorded module tree is then walked into a flat fp32 state dict with
the names ``module.state_dict()`` would give (``model.0.conv.conv.weight``).
"""
import builtins
import collections
import io
import os
import os.path as osp
import pickle
import types
import zipfile
from typing import Any, Callable, Dict, Optional, Tuple

import numpy as np
import torch
from torch import Tensor

try:  # numpy >= 2
    from numpy._core.multiarray import _reconstruct as _np_reconstruct
    from numpy._core.multiarray import scalar as _np_scalar
except ImportError:  # pragma: no cover - numpy 1.x
    from numpy.core.multiarray import _reconstruct as _np_reconstruct
    from numpy.core.multiarray import scalar as _np_scalar

#: Packages of the original repositories whose classes become inert stubs.
ORIGINAL_NAMESPACES = ('models', 'utils')


class UnsafeCheckpointError(pickle.UnpicklingError, ValueError):
    """The checkpoint names a global that is not allowed (code, not data)."""


class CorruptCheckpointError(ValueError):
    """The file is not a complete torch checkpoint."""


class InertObject:
    """Stand-in for a class of a pickled module tree; never runs its code.

    Unpickling creates instances through ``__new__`` (``NEWOBJ``) or a call
    (``REDUCE``) and then hands them their state (``BUILD``); this class
    only records what it is given. Subclasses are made per pickled class
    name by :func:`inert_class`.

    Attributes:
        inert_name (str): ``module.qualname`` of the pickled class.
        inert_args (tuple): Arguments of the constructor call, if any.
        inert_state: The state given by ``BUILD`` (for an ``nn.Module``: its
            ``__dict__``, with ``_parameters``, ``_buffers``, ``_modules``).
        inert_items (list): Items appended or set (list/dict subclasses).
    """

    inert_name: str = 'InertObject'

    def __new__(cls, *args, **kwargs):
        obj = super().__new__(cls)
        obj.__dict__.update(inert_args=args + tuple(kwargs.items()),
                            inert_state=None, inert_items=[])
        return obj

    def __init__(self, *args, **kwargs) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        self.__dict__['inert_state'] = state

    def append(self, item: Any) -> None:
        self.inert_items.append(item)

    def extend(self, items: Any) -> None:
        self.inert_items.extend(items)

    def __setitem__(self, key: Any, value: Any) -> None:
        self.inert_items.append((key, value))

    def __repr__(self) -> str:
        return f'<inert {self.inert_name}>'

    @property
    def inert_dict(self) -> Dict[str, Any]:
        """The recorded state as a dict (the first part of a
        ``(dict, slots)`` state), empty when there is none."""
        state = self.inert_state
        if isinstance(state, tuple) and len(state) == 2 and \
                isinstance(state[0], (dict, type(None))):
            state = state[0]
        return state if isinstance(state, dict) else {}


_INERT_CLASSES: Dict[str, type] = {}


def inert_class(module: str, name: str) -> type:
    """The :class:`InertObject` subclass standing for ``module.name``."""
    full = f'{module}.{name}'
    cls = _INERT_CLASSES.get(full)
    if cls is None:
        cls = type(name.rpartition('.')[2] or name, (InertObject, ), {
            '__module__': module,
            '__qualname__': name,
            'inert_name': full,
        })
        _INERT_CLASSES[full] = cls
    return cls


# --------------------------------------------------------------- allowlist
def _latin1_encode(obj: Any, encoding: str = 'latin1') -> bytes:
    """``_codecs.encode`` as protocol-2 pickles use it for ``bytes``."""
    if isinstance(obj, str) and encoding in ('latin1', 'latin-1'):
        return obj.encode('latin1')
    raise UnsafeCheckpointError(
        f'refusing _codecs.encode({type(obj).__name__}, {encoding!r}): only '
        'latin1 text-to-bytes is allowed')


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copyreg._reconstructor`` (protocol 0/1 objects), for stubs only."""
    if isinstance(cls, type) and issubclass(cls, InertObject):
        return cls() if state is None else cls(state)
    raise UnsafeCheckpointError(
        f'refusing copyreg._reconstructor({cls!r}, {base!r}): only stand-ins '
        'of module classes may be rebuilt this way')


def _newobj(cls: Any, *args: Any, **kwargs: Any) -> Any:
    """``copyreg.__newobj__`` / ``__newobj_ex__``, for stubs only."""
    if isinstance(cls, type) and issubclass(cls, InertObject):
        return cls.__new__(cls, *args, **kwargs)
    raise UnsafeCheckpointError(
        f'refusing copyreg.__newobj__({cls!r}): only stand-ins of module '
        'classes may be created this way')


def _newobj_ex(cls: Any, args: tuple, kwargs: dict) -> Any:
    return _newobj(cls, *args, **kwargs)


def _rebuild_parameter_with_state(data: Tensor, requires_grad: bool,
                                  backward_hooks: Any, state: Any) -> Tensor:
    """torch's function without restoring python attributes (``state``)."""
    return torch._utils._rebuild_parameter(data, requires_grad,
                                           backward_hooks)


_TORCH_REBUILDS = {
    name: getattr(torch._utils, name)
    for name in ('_rebuild_tensor', '_rebuild_tensor_v2', '_rebuild_tensor_v3',
                 '_rebuild_parameter')
    if hasattr(torch._utils, name)
}
_TORCH_REBUILDS['_rebuild_parameter_with_state'] = \
    _rebuild_parameter_with_state


def _rebuild_from_type_v2(func: Callable, new_type: Any, args: tuple,
                          state: Any) -> Tensor:
    """torch's ``_rebuild_from_type_v2`` limited to plain tensors and
    parameters; the python attributes (``state``) are dropped."""
    if func not in _TORCH_REBUILDS.values() or \
            new_type not in (torch.Tensor, torch.nn.Parameter):
        raise UnsafeCheckpointError(
            f'refusing torch._tensor._rebuild_from_type_v2({func!r}, '
            f'{new_type!r}): only plain tensors and parameters are allowed')
    ret = func(*args)
    if type(ret) is not new_type:
        ret = ret.as_subclass(new_type)
    return ret


# torch's dtypes (``torch.float16``, ...) and a few inert classes; looked up
# in torch's namespace dict, which triggers none of its lazy imports
_TORCH_GLOBALS = {
    name: obj for name, obj in vars(torch).items()
    if isinstance(obj, torch.dtype)
}
_TORCH_GLOBALS.update(Size=torch.Size, device=torch.device, Tensor=torch.Tensor)
_SAFE_BUILTINS = ('set', 'frozenset', 'slice', 'complex', 'bytearray',
                  'range', 'object', 'list', 'dict', 'tuple', 'int', 'float',
                  'bool', 'str', 'bytes')
_NUMPY_MULTIARRAY = {'scalar': _np_scalar, '_reconstruct': _np_reconstruct}


def _allowed_global(module: str, name: str) -> Optional[Any]:
    """The object an allowed global resolves to, or None if refused."""
    if module in ('__builtin__', 'builtins'):
        return getattr(builtins, name) if name in _SAFE_BUILTINS else None
    if module == 'collections' and name == 'OrderedDict':
        return collections.OrderedDict
    if module == '_codecs' and name == 'encode':
        return _latin1_encode
    if module in ('copyreg', 'copy_reg'):
        return {'_reconstructor': _reconstructor, '__newobj__': _newobj,
                '__newobj_ex__': _newobj_ex}.get(name)
    if module == 'torch._utils':
        return _TORCH_REBUILDS.get(name)
    if module in ('torch._tensor', 'torch.tensor'):
        if name == '_rebuild_from_type_v2':
            return _rebuild_from_type_v2
        return torch.Tensor if name == 'Tensor' else None
    if module == 'torch':
        return _TORCH_GLOBALS.get(name)
    if module == 'torch.nn.parameter':
        return torch.nn.Parameter if name == 'Parameter' else None
    if module.startswith('torch.nn.modules.') and name.isidentifier():
        return inert_class(module, name)
    if module.split('.')[0] in ORIGINAL_NAMESPACES:
        return inert_class(module, name)
    if module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        return _NUMPY_MULTIARRAY.get(name)
    if module == 'numpy':
        return {'ndarray': np.ndarray, 'dtype': np.dtype}.get(name)
    if module == 'numpy.dtypes' and name.endswith('DType'):
        obj = getattr(getattr(np, 'dtypes', None), name, None)
        return obj if isinstance(obj, type) and issubclass(obj, np.dtype) \
            else None
    return None


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose ``find_class`` resolves only allowed globals."""

    source = '<checkpoint>'

    def find_class(self, module: str, name: str) -> Any:
        obj = None
        if isinstance(module, str) and isinstance(name, str):
            obj = _allowed_global(module, name)
        if obj is None:
            raise UnsafeCheckpointError(
                f"refusing to load '{module}.{name!s}' from {self.source}: this "
                'checkpoint holds code or an object that is not weights, '
                'module structure or plain data; it was not loaded. Only '
                'tensors, module classes (as inert stand-ins), numpy data '
                'and basic containers are allowed.')
        return obj


def restricted_pickle_module(source: str = '<checkpoint>'
                             ) -> types.ModuleType:
    """A module-like object for ``torch.load(..., pickle_module=...)``.

    It exposes ``Unpickler`` (with the restricted ``find_class``), ``load``,
    ``loads`` and ``UnpicklingError``; torch subclasses ``Unpickler`` (its
    storage lookup runs first, then ours) and uses ``load`` for the headers
    of legacy (non-zip) files.

    Args:
        source (str): Name of the file, for error messages.
    """
    mod = types.ModuleType('posekit_plugins.utils.original_checkpoint.pickle')
    unpickler = type('Unpickler', (_RestrictedUnpickler, ), {'source': source})

    def load(file, **kwargs):
        return unpickler(file, **kwargs).load()

    def loads(data, **kwargs):
        return load(io.BytesIO(data), **kwargs)

    mod.Unpickler = unpickler
    mod.load, mod.loads = load, loads
    mod.UnpicklingError = pickle.UnpicklingError
    return mod


# ----------------------------------------------------------------- loading
def _check_container(path: str) -> None:
    """Fail early and clearly on files torch would misread or dispatch."""
    size = osp.getsize(path)
    with open(path, 'rb') as f:
        head = f.read(4)
    if size == 0:
        raise CorruptCheckpointError(
            f'not a complete torch checkpoint: {path} is empty')
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except (zipfile.BadZipFile, OSError, ValueError) as e:
            raise CorruptCheckpointError(
                f'not a complete torch checkpoint: {path}: {e}') from e
        if any(n.endswith('/constants.pkl') or n == 'constants.pkl'
               for n in names):
            raise UnsafeCheckpointError(
                f'refusing to load {path}: it is a TorchScript archive '
                '(compiled code), not a training checkpoint')
        if not any(n.endswith('data.pkl') for n in names):
            raise CorruptCheckpointError(
                f'not a complete torch checkpoint: {path} is a zip archive '
                'without data.pkl')
    elif head.startswith(b'PK'):
        raise CorruptCheckpointError(
            f'not a complete torch checkpoint: {path} starts as a zip archive '
            'but has no readable central directory (truncated download?)')
    elif not head.startswith(b'\x80'):
        raise CorruptCheckpointError(
            f'not a complete torch checkpoint: {path} is neither a torch zip '
            'archive nor a legacy torch pickle')


def _torch_load(path: str) -> Any:
    _check_container(path)
    try:
        return torch.load(path, map_location='cpu',
                          pickle_module=restricted_pickle_module(path),
                          weights_only=False)
    except UnsafeCheckpointError:
        raise
    except RuntimeError as e:
        if 'pickle_module' in str(e):
            raise RuntimeError(
                f'cannot read {path} with a restricted unpickler while '
                'TORCH_FORCE_WEIGHTS_ONLY_LOAD is set; unset it (the '
                'restricted unpickler is the safe path here)') from e
        raise CorruptCheckpointError(
            f'not a complete torch checkpoint: {path}: {e}') from e
    except (EOFError, pickle.UnpicklingError, zipfile.BadZipFile, KeyError,
            ValueError, TypeError, AttributeError, IndexError,
            MemoryError) as e:
        raise CorruptCheckpointError(
            f'not a complete torch checkpoint: {path}: '
            f'{type(e).__name__}: {e}') from e


def _is_module(obj: Any) -> bool:
    return isinstance(obj, InertObject) and isinstance(
        obj.inert_dict.get('_modules'), dict)


def _is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, Tensor) for k, v in obj.items())


_PLAIN_TYPES = (bool, int, float, str, type(None))


def _plain(value: Any, depth: int = 0) -> Any:
    """A JSON-like copy of small attributes; anything else as None."""
    if isinstance(value, _PLAIN_TYPES):
        return value
    if isinstance(value, (np.generic, np.ndarray)) and value.size == 1:
        return value.item()
    if isinstance(value, Tensor) and value.numel() <= 16:
        return value.detach().float().tolist()
    if depth < 6 and isinstance(value, (list, tuple)):
        return [_plain(v, depth + 1) for v in value]
    if depth < 6 and isinstance(value, dict):
        return {str(k): _plain(v, depth + 1) for k, v in value.items()}
    if isinstance(value, InertObject):
        return f'<{value.inert_name}>'
    return None


def _walk(module: InertObject, prefix: str, out: Dict[str, Tensor],
          modules: Dict[str, Dict[str, Any]], ancestors: set) -> None:
    """``nn.Module.state_dict`` over the recorded tree."""
    if id(module) in ancestors:
        raise ValueError(f'{prefix[:-1]} contains itself (a cyclic module '
                         'tree)')
    state = module.inert_dict
    attrs = {
        k: _plain(v) for k, v in state.items()
        if not k.startswith('_') and k != 'training'
        and not isinstance(v, InertObject)
    }
    modules[prefix[:-1]] = {'class': module.inert_name, 'attrs': attrs}
    for name, param in (state.get('_parameters') or {}).items():
        if isinstance(param, Tensor):
            out[prefix + name] = param
    non_persistent = state.get('_non_persistent_buffers_set')
    if not isinstance(non_persistent, (set, frozenset, list, tuple)):
        non_persistent = ()
    for name, buf in (state.get('_buffers') or {}).items():
        if isinstance(buf, Tensor) and name not in non_persistent:
            out[prefix + name] = buf
    for name, child in (state.get('_modules') or {}).items():
        if child is None:
            continue
        if not _is_module(child):
            raise ValueError(
                f'{prefix}{name} is {child!r}, not a pickled nn.Module')
        _walk(child, f'{prefix}{name}.', out, modules,
              ancestors | {id(module)})


def _to_fp32(state: Dict[str, Tensor]) -> 'collections.OrderedDict[str, Tensor]':
    return collections.OrderedDict(
        (k, v.detach().to(torch.float32) if v.is_floating_point()
         else v.detach().clone()) for k, v in state.items())


def load_original_checkpoint(
        path: str) -> Tuple['collections.OrderedDict[str, Tensor]', dict]:
    """Read a YOLOv5-family checkpoint as its repository released it.

    Accepts a training checkpoint (dict with ``model``/``ema`` module
    objects), a whole pickled module, a plain state dict, or a dict with a
    state dict under ``state_dict``/``model``/``ema``. Never imports the
    original code and never runs anything the file names (see the module
    docstring for what the unpickler allows).

    Args:
        path (str): The checkpoint file.

    Returns:
        tuple: ``(state_dict, info)``. ``state_dict``: OrderedDict of fp32
        tensors (integer buffers such as BN ``num_batches_tracked`` keep
        their dtype) named as ``module.state_dict()`` names them. ``info``:
        ``source`` (absolute path), ``keys`` (top-level keys of the file's
        dict), ``used`` (the entry the weights came from: ``'ema'``,
        ``'model'``, ``'state_dict'`` or ``'<root>'``), ``format``
        (``'module'`` or ``'state_dict'``), ``classes`` (sorted class names
        of the module tree), ``modules`` (per module path, its ``class`` and
        small plain ``attrs``; empty for state dicts), ``focus_contract``
        (True if the ``Focus`` module has a ``contract`` child, False if a
        ``Focus`` has none, None if unknown), ``dtypes`` (source dtypes),
        ``epoch`` and ``best_fitness`` when present, ``yaml`` (the model's
        architecture dict, when recorded).

    Raises:
        FileNotFoundError: ``path`` does not exist.
        UnsafeCheckpointError: The file names a global that is not allowed.
        CorruptCheckpointError: The file is truncated or not a checkpoint.
        ValueError: The file holds no recognisable weights.
    """
    path = osp.abspath(os.fspath(path))
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint not found: {path}')
    obj = _torch_load(path)

    info: Dict[str, Any] = dict(source=path, keys=[], used=None, format=None,
                                classes=[], modules={}, focus_contract=None,
                                dtypes=[], epoch=None, best_fitness=None,
                                yaml=None)
    weights, used = obj, '<root>'
    if isinstance(obj, dict) and not _is_state_dict(obj):
        info['keys'] = [str(k) for k in obj]
        info['epoch'] = _plain(obj.get('epoch'))
        info['best_fitness'] = _plain(obj.get('best_fitness'))
        for key in ('ema', 'model', 'state_dict'):
            if _is_module(obj.get(key)) or _is_state_dict(obj.get(key)):
                weights, used = obj[key], key
                break
        else:
            raise ValueError(
                f'{path}: no weights found; expected a module or a state dict '
                f"under 'ema', 'model' or 'state_dict', got keys "
                f'{info["keys"]}')
    info['used'] = used

    if _is_module(weights):
        state: Dict[str, Tensor] = collections.OrderedDict()
        modules: Dict[str, Dict[str, Any]] = {}
        _walk(weights, '', state, modules, set())
        info['format'] = 'module'
        info['modules'] = modules
        info['classes'] = sorted({m['class'] for m in modules.values()})
        focus = [p for p, m in modules.items()
                 if m['class'].rpartition('.')[2] == 'Focus']
        if focus:
            info['focus_contract'] = any(f'{p}.contract' in modules
                                         for p in focus)
        yaml = weights.inert_dict.get('yaml')
        info['yaml'] = _plain(yaml) if isinstance(yaml, dict) else None
    elif _is_state_dict(weights):
        state = weights
        info['format'] = 'state_dict'
    else:
        raise ValueError(f'{path}: {used} holds {type(weights).__name__}, '
                         'neither a module nor a state dict of tensors')
    if not state:
        raise ValueError(f'{path}: the {used} module holds no tensors')
    info['dtypes'] = sorted({str(v.dtype) for v in state.values()})
    return _to_fp32(state), info


__all__ = [
    'CorruptCheckpointError', 'InertObject', 'ORIGINAL_NAMESPACES',
    'UnsafeCheckpointError', 'inert_class', 'load_original_checkpoint',
    'restricted_pickle_module'
]
