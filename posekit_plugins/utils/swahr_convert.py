"""Converting released HigherHRNet / SWAHR checkpoints into our mmpose
models (mmpose's ``HRNet`` backbone + :class:`AEHigherHRNetHead`).

The authors' ``PoseHigherResolutionNet`` (greatlog/SWAHR-HumanPose, derived
from HRNet/HigherHRNet-Human-Pose-Estimation) is an HRNet whose module names
are those of mmpose's ``HRNet`` (``conv1``, ``bn1``, ``conv2``, ``bn2``,
``layer1``, ``transition1-3``, ``stage2-4``), followed by ``final_layers``,
``deconv_layers`` and (SWAHR) ``conv_scale_layers``, which
:class:`AEHigherHRNetHead` names alike. The mapping is therefore
``backbone.<key>`` and ``head.<key>``; what this module adds is the check:
every source tensor must map, every tensor of the model the config builds
must be present with its shape, and :class:`ConversionError` lists every
problem at once.

The released files (``pose_higher_hrnet_w32_512.pth``,
``pose_higher_hrnet_w48_640.pth``) are plain state dicts, saved from
``model.module`` (``tools/dist_train.py``) and loaded with
``load_state_dict(..., strict=True)`` before the ``DataParallel`` wrap
(``tools/dist_valid.py``): no ``module.`` prefix. Training checkpoints
(``checkpoint.pth.tar``: ``state_dict`` of the ``DataParallel`` model) are
accepted too; a leading ``module.`` is removed.
"""
import collections
import datetime
import os
import os.path as osp
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import torch
from torch import Tensor

from .original_checkpoint import load_original_checkpoint
from .yolov5_convert import (
    ConversionError,
    _builtin,
    _sha256,
    build_pose_model,
    load_config,
)

#: Top-level module names of the original's HRNet part.
BACKBONE_MODULES = ('conv1', 'bn1', 'conv2', 'bn2', 'layer1', 'transition1',
                    'transition2', 'transition3', 'stage2', 'stage3',
                    'stage4')
#: Top-level module names of the original's HigherHRNet / SWAHR head.
HEAD_MODULES = ('final_layers', 'deconv_layers', 'conv_scale_layers')


def map_swahr_state_dict(
        state_dict: Mapping[str, Tensor]
) -> Tuple['collections.OrderedDict[str, Tensor]', Dict[str, str],
           List[str]]:
    """Rename an original state dict to our names.

    Returns:
        tuple: ``(mapped, origin, unmatched)``: our names -> tensors, our
        names -> original names, and the original keys that map to nothing.
    """
    mapped: collections.OrderedDict[str, Tensor] = collections.OrderedDict()
    origin: Dict[str, str] = {}
    unmatched: List[str] = []
    for key, value in state_dict.items():
        name = key[len('module.'):] if key.startswith('module.') else key
        top = name.split('.', 1)[0]
        if top in BACKBONE_MODULES:
            ours = f'backbone.{name}'
        elif top in HEAD_MODULES:
            ours = f'head.{name}'
        else:
            unmatched.append(key)
            continue
        if ours in mapped:
            unmatched.append(f'{key} (duplicate of {origin[ours]})')
            continue
        mapped[ours] = value
        origin[ours] = key
    return mapped, origin, unmatched


def _load_source(src: Union[str, 'os.PathLike', Mapping[str, Tensor]]
                 ) -> Tuple[Mapping[str, Tensor], dict]:
    if isinstance(src, Mapping):
        state = collections.OrderedDict(
            (str(k), v.to(torch.float32) if v.is_floating_point() else v)
            for k, v in src.items())
        return state, dict(path=None, sha256=None, used='<state dict>',
                           format='state_dict', keys=[])
    path = osp.abspath(os.fspath(src))
    state, info = load_original_checkpoint(path)
    return state, dict(path=path, sha256=_sha256(path), used=info['used'],
                       format=info['format'], keys=info['keys'])


def convert_swahr_checkpoint(
        src: Union[str, 'os.PathLike', Mapping[str, Tensor]],
        config: Union[str, Any],
        *,
        return_meta: bool = False,
        converter: Optional[str] = None,
) -> Union['collections.OrderedDict[str, Tensor]',
           Tuple['collections.OrderedDict[str, Tensor]', dict]]:
    """Convert an original HigherHRNet / SWAHR checkpoint, checked completely
    against the model ``config`` builds.

    Args:
        src (str | PathLike | Mapping): The released file (read with
            :func:`load_original_checkpoint`, never executed) or a state
            dict.
        config (str | Config): The mmpose config of the target model (SWAHR
            or plain HigherHRNet, W32 or W48).
        return_meta (bool): Also return the metadata for the checkpoint
            (``source`` with path and sha256, ``config``, ``converter``,
            ``original_keys``, versions, time).
        converter (str, optional): Name recorded in the meta.

    Returns:
        OrderedDict: fp32 state dict with our names, in the model's order
        (and the meta with ``return_meta``).

    Raises:
        ConversionError: Anything does not map; lists every problem.
    """
    state, source = _load_source(src)
    cfg = load_config(config)
    cfg_name = getattr(cfg, 'filename', None) or '<Config>'
    model = build_pose_model(cfg)
    target = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    mapped, origin, unmatched = map_swahr_state_dict(state)

    problems: List[str] = []
    if not any(k.startswith('head.conv_scale_layers.') for k in mapped) and \
            any(k.startswith('head.conv_scale_layers.') for k in target):
        problems.append('the source has no SWAHR scale branch '
                        '(conv_scale_layers): a plain HigherHRNet checkpoint '
                        'needs a config with with_swahr=False')
    elif any(k.startswith('head.conv_scale_layers.') for k in mapped) and \
            not any(k.startswith('head.conv_scale_layers.') for k in target):
        problems.append('the source is a SWAHR checkpoint '
                        '(conv_scale_layers) and the config builds a plain '
                        'HigherHRNet (with_swahr=False)')
    missing = [k for k in target if k not in mapped]
    unexpected = [f'{k} <- {origin[k]}' for k in mapped if k not in target]
    mismatched = [
        f'{k} <- {origin[k]}: {tuple(v.shape)} vs {target[k]}'
        for k, v in mapped.items()
        if k in target and tuple(v.shape) != target[k]
    ]
    if problems or unmatched or missing or unexpected or mismatched:
        where = source['path'] or 'the state dict'
        raise ConversionError(
            f'cannot convert {where} to the model of {cfg_name}:', problems,
            unmatched, missing, unexpected, mismatched)

    converted = collections.OrderedDict((k, mapped[k]) for k in target)
    if not return_meta:
        return converted
    import mmpose

    from ..version import __version__
    meta = _builtin(dict(
        source=source,
        config=osp.abspath(cfg_name) if osp.isfile(cfg_name) else cfg_name,
        converter=converter or __name__,
        arch='swahr' if any(k.startswith('head.conv_scale_layers.')
                            for k in converted) else 'higherhrnet',
        original_keys=dict(origin),
        mmpose_version=mmpose.__version__,
        posekit_plugins_version=__version__,
        torch_version=torch.__version__,
        time=datetime.datetime.now().isoformat(timespec='seconds'),
    ))
    return converted, meta


__all__ = [
    'BACKBONE_MODULES', 'HEAD_MODULES', 'convert_swahr_checkpoint',
    'map_swahr_state_dict'
]
