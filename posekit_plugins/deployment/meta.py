"""Export metadata stored inside an ONNX file (``metadata_props``).

An exported graph holds no preprocessing, so the runner needs to know how
the config prepared the image (resize mode, mean/std, channel order) and how
to read the outputs. That is written as one JSON object under the key
:data:`META_KEY` of the model's ``metadata_props``, next to the graph, so a
single ``.onnx`` file is enough to run it.
"""
import json
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Union

import numpy as np

#: key of the JSON object in the ONNX model's ``metadata_props``
META_KEY = 'posekit'
#: version of the metadata layout (bump when a key changes meaning)
META_VERSION = 1
#: model families an export can hold
FAMILIES = ('onestage', 'topdown')
#: keys every metadata object must have
REQUIRED_KEYS = ('family', 'config', 'input_size', 'mean', 'std',
                 'bgr_to_rgb', 'num_keypoints', 'outputs')


def _jsonable(obj: Any) -> Any:
    """Config values (tuples, numpy scalars/arrays, ConfigDicts) as plain
    JSON types."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if hasattr(obj, 'tolist'):  # torch tensors
        return obj.tolist()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)


def validate_export_meta(meta: dict, where: str = 'export metadata') -> None:
    """Raise ``ValueError`` naming what is missing or wrong in ``meta``."""
    if not isinstance(meta, dict):
        raise ValueError(f'{where}: expected a dict, got {type(meta).__name__}')
    missing = [k for k in REQUIRED_KEYS if k not in meta]
    if missing:
        raise ValueError(f'{where}: missing keys {missing} (required: '
                         f'{list(REQUIRED_KEYS)})')
    if meta['family'] not in FAMILIES:
        raise ValueError(f'{where}: family must be one of {FAMILIES}, got '
                         f'{meta["family"]!r}')
    size = meta['input_size']
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise ValueError(f'{where}: input_size must be (W, H), got {size!r}')


def _load_model(onnx_model_or_path):
    import onnx
    if isinstance(onnx_model_or_path, (str, Path)):
        path = Path(onnx_model_or_path)
        if not path.is_file():
            raise FileNotFoundError(f'ONNX model not found: {path}')
        # the graph only: metadata lives in the ModelProto, and large
        # external weights need not be read
        return onnx.load(str(path), load_external_data=False), path
    return onnx_model_or_path, None


def write_export_meta(onnx_model_or_path: Union[str, Path, Any],
                      meta: Dict[str, Any]):
    """Store ``meta`` as JSON under :data:`META_KEY` in the model's
    ``metadata_props`` (replacing an earlier entry).

    Args:
        onnx_model_or_path (str | Path | onnx.ModelProto): A model file
            (rewritten in place) or a loaded model (changed in place).
        meta (dict): The metadata; :data:`REQUIRED_KEYS` must be present.
            ``version`` (:data:`META_VERSION`) is added when absent.

    Returns:
        onnx.ModelProto: The model.
    """
    import onnx
    meta = _jsonable(dict(meta))
    meta.setdefault('version', META_VERSION)
    validate_export_meta(meta)
    model, path = _load_model(onnx_model_or_path)
    text = json.dumps(meta, sort_keys=True)
    for prop in model.metadata_props:
        if prop.key == META_KEY:
            prop.value = text
            break
    else:
        entry = model.metadata_props.add()
        entry.key, entry.value = META_KEY, text
    if path is not None:
        onnx.save(model, str(path))
    return model


def read_export_meta(onnx_model_or_path: Union[str, Path, Any]) -> dict:
    """The metadata written by :func:`write_export_meta`.

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The model has no :data:`META_KEY` entry (not exported by
            this package), or it is not valid metadata.
    """
    model, path = _load_model(onnx_model_or_path)
    where = str(path) if path is not None else 'ONNX model'
    for prop in model.metadata_props:
        if prop.key == META_KEY:
            try:
                meta = json.loads(prop.value)
            except json.JSONDecodeError as e:
                raise ValueError(f'{where}: metadata {META_KEY!r} is not '
                                 f'JSON ({e})') from e
            validate_export_meta(meta, where)
            if int(meta.get('version', 0)) > META_VERSION:
                raise ValueError(
                    f'{where}: metadata version {meta["version"]} is newer '
                    f'than this package reads ({META_VERSION}); update '
                    'posekit_plugins.')
            return meta
    raise ValueError(
        f'{where}: no {META_KEY!r} entry in metadata_props; export it with '
        'tools/deployment/pytorch2onnx.py.')


# --------------------------------------------------------- config helpers
def preprocessor_meta(cfg) -> dict:
    """``mean``, ``std``, ``bgr_to_rgb``, ``pad_value`` and
    ``pad_size_divisor`` of the config's ``model.data_preprocessor`` (what
    the runner applies before the graph)."""
    dp = cfg.model.get('data_preprocessor', None) or {}
    mean = dp.get('mean', None)
    std = dp.get('std', None)
    return dict(
        mean=[float(v) for v in mean] if mean is not None else [0.0] * 3,
        std=[float(v) for v in std] if std is not None else [1.0] * 3,
        bgr_to_rgb=bool(dp.get('bgr_to_rgb', False)),
        pad_value=float(dp.get('pad_value', 0)),
        pad_size_divisor=int(dp.get('pad_size_divisor', 1)))


def test_pipeline_meta(cfg,
                       input_size: Optional[Sequence[int]] = None) -> dict:
    """The resize step of the config's test pipeline, so that the runner
    can reproduce it.

    Returns ``dict(mode=..., transform=...)``: ``mode`` is ``'letterbox'``
    (:class:`YOLOv5Letterbox`: keep ratio, pad with ``pad_val``),
    ``'bottomup_resize'`` (mmpose's ``BottomupResize``), ``'affine'``
    (``TopdownAffine``) or the transform's type; ``transform`` is the
    transform's config (its ``input_size`` replaced by ``input_size`` when
    given) and ``keep_ratio`` / ``pad_val`` where they apply.
    """
    dl = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None)
    pipeline = list(dl.dataset.pipeline) if dl is not None else []
    modes = {'YOLOv5Letterbox': 'letterbox', 'BottomupResize':
             'bottomup_resize', 'TopdownAffine': 'affine'}
    for t in pipeline:
        kind = t['type'].split('.')[-1]
        if kind in modes:
            tf = _jsonable(dict(t))
            if input_size is not None:
                tf['input_size'] = [int(v) for v in input_size]
            out = dict(mode=modes[kind], transform=tf)
            if kind == 'YOLOv5Letterbox':
                out.update(keep_ratio=True, pad_val=tf.get('pad_val', 114))
            elif kind == 'BottomupResize':
                out.update(keep_ratio=True, pad_val=tf.get('pad_val', 0))
            return out
    return dict(mode=None, transform=None,
                pipeline=[t['type'] for t in pipeline])


def dataset_meta(cfg) -> dict:
    """The dataset's metainfo name and file (``dataset_name``,
    ``metainfo_file``) from the test dataloader."""
    dl = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None)
    ds = dl.dataset if dl is not None else {}
    info = ds.get('metainfo', None) or {}
    name = None
    path = info.get('from_file', None) if isinstance(info, dict) else None
    if path is None:
        path = 'configs/_base_/datasets/coco.py'
    try:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        name = parse_pose_metainfo(dict(from_file=path)).get('dataset_name')
    except Exception:  # missing file: the name stays unknown
        name = None
    return dict(dataset_name=name, metainfo_file=path)
