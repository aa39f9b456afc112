"""Converting released YOLOv5-P6 pose checkpoints into our mmpose models.

The original YOLO-Pose (edgeai-yolov5, branch yolo-pose) and KAPAO
(wmcnally/kapao) models are YOLOv5 "6" models: layers 0-11 are the P6
CSP-Darknet, 12-32 the PAN neck, 33 the ``Detect`` head. Ours are mmpose
``BottomupPoseEstimator`` s with mmdet's ``CSPDarknet(arch='P6')``,
:class:`~posekit_plugins.models.necks.YOLOv5PAN` and ``YOLOPoseHead`` /
``KAPAOHead``; the name mapping is fixed (see :data:`BACKBONE_LAYERS`,
:data:`NECK_LAYERS` and :func:`map_yolov5_state_dict`).

A conversion is checked completely before anything is written: every source
tensor must be mapped (or be a known buffer), every tensor of the model the
config builds must be present with its shape, the anchors, strides, SPP
kernels, activations and BN eps recorded in the source must match the
config; :class:`ConversionError` lists every problem at once.
"""
import collections
import copy
import datetime
import hashlib
import os
import os.path as osp
import re
import tempfile
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from .original_checkpoint import load_original_checkpoint

#: Architectures the full converters produce.
ARCHS = ('yolopose', 'kapao')

#: Original layer index -> our module (mmdet ``CSPDarknet(arch='P6')``).
BACKBONE_LAYERS: Dict[int, str] = {
    0: 'backbone.stem',
    1: 'backbone.stage1.0',
    2: 'backbone.stage1.1',
    3: 'backbone.stage2.0',
    4: 'backbone.stage2.1',
    5: 'backbone.stage3.0',
    6: 'backbone.stage3.1',
    7: 'backbone.stage4.0',
    8: 'backbone.stage4.1',
    9: 'backbone.stage5.0',
    10: 'backbone.stage5.1',
    11: 'backbone.stage5.2',
}

#: Original layer index -> our module (``YOLOv5PAN``); the layers missing
#: here (13, 14, 17, 18, 21, 22, 25, 28, 31) are Upsample/Concat.
NECK_LAYERS: Dict[int, str] = {
    12: 'neck.reduce_convs.0',
    15: 'neck.top_down_blocks.0',
    16: 'neck.reduce_convs.1',
    19: 'neck.top_down_blocks.1',
    20: 'neck.reduce_convs.2',
    23: 'neck.top_down_blocks.2',
    24: 'neck.downsamples.0',
    26: 'neck.bottom_up_blocks.0',
    27: 'neck.downsamples.1',
    29: 'neck.bottom_up_blocks.1',
    30: 'neck.downsamples.2',
    32: 'neck.bottom_up_blocks.2',
}

#: Index of the original ``Detect`` layer in the P6 models.
HEAD_LAYER = 33

#: The original class of each layer (``SPPF`` is accepted for ``SPP``).
LAYER_CLASSES: Dict[int, Tuple[str, ...]] = {
    0: ('Focus', ),
    10: ('SPP', 'SPPF'),
    HEAD_LAYER: ('Detect', ),
    **{i: ('C3', ) for i in (2, 4, 6, 8, 11, 15, 19, 23, 26, 29, 32)},
    **{i: ('Conv', ) for i in (1, 3, 5, 7, 9, 12, 16, 20, 24, 27, 30)},
}

_LEAF = r'(?P<leaf>conv\.weight|bn\.(?:weight|bias|running_mean|running_var' \
        r'|num_batches_tracked))'
# within-layer renames (original -> ours), by layer class
_RENAMES: Dict[str, List[Tuple[str, str]]] = {
    'Focus': [(rf'^conv\.{_LEAF}$', r'conv.\g<leaf>')],
    'Conv': [(rf'^{_LEAF}$', r'\g<leaf>')],
    'C3': [(rf'^cv1\.{_LEAF}$', r'main_conv.\g<leaf>'),
           (rf'^cv2\.{_LEAF}$', r'short_conv.\g<leaf>'),
           (rf'^cv3\.{_LEAF}$', r'final_conv.\g<leaf>'),
           (rf'^m\.(\d+)\.cv1\.{_LEAF}$', r'blocks.\1.conv1.\g<leaf>'),
           (rf'^m\.(\d+)\.cv2\.{_LEAF}$', r'blocks.\1.conv2.\g<leaf>')],
    'SPP': [(rf'^cv1\.{_LEAF}$', r'conv1.\g<leaf>'),
            (rf'^cv2\.{_LEAF}$', r'conv2.\g<leaf>')],
}
_HEAD_BUFFERS = ('anchors', 'anchor_grid')
_KEY = re.compile(r'^(?:module\.)?model\.(\d+)\.(.+)$')


class ConversionError(ValueError):
    """A checkpoint does not map onto the model; lists every problem.

    Attributes:
        problems (list[str]): Architecture-level problems (anchors, strides,
            activations, source architecture, ...).
        unmatched (list[str]): Source keys that map to nothing.
        missing (list[str]): Keys of our model no source tensor maps to.
        unexpected (list[str]): Mapped keys our model does not have
            (``'ours <- original'``).
        mismatched (list[str]): Keys whose shapes differ
            (``'ours <- original: (source shape) vs (our shape)'``).
    """

    def __init__(self, header: str, problems: Sequence[str] = (),
                 unmatched: Sequence[str] = (), missing: Sequence[str] = (),
                 unexpected: Sequence[str] = (),
                 mismatched: Sequence[str] = ()) -> None:
        self.problems = list(problems)
        self.unmatched = list(unmatched)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)
        lines = [header]
        for title, items in (
                ('problems', self.problems),
                ('source tensors that map to nothing', self.unmatched),
                ('tensors of our model missing from the source', self.missing),
                ('mapped tensors our model does not have', self.unexpected),
                ('shape mismatches (source vs ours)', self.mismatched)):
            if items:
                lines.append(f'{title} ({len(items)}):')
                lines.extend(f'  {item}' for item in items)
        super().__init__('\n'.join(lines))


@dataclass
class YOLOv5Mapping:
    """The result of :func:`map_yolov5_state_dict`.

    Attributes:
        state_dict (OrderedDict): The mapped tensors, our names.
        origin (dict): Our key -> the original key it came from.
        unmatched (list[str]): Source keys that map to nothing.
        skipped (list[str]): Source keys left out on purpose (parts not
            converted, e.g. the head with ``with_head=False``).
        buffers (dict): The ``Detect`` buffers (``anchors``, ``anchor_grid``)
            consumed by checks, original names.
        problems (list[str]): Tensors that cannot be mapped as they are
            (e.g. a KAPAO output conv not divisible into anchors).
    """
    state_dict: 'collections.OrderedDict[str, Tensor]' = field(
        default_factory=collections.OrderedDict)
    origin: Dict[str, str] = field(default_factory=dict)
    unmatched: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    buffers: Dict[str, Tensor] = field(default_factory=dict)
    problems: List[str] = field(default_factory=list)


def permute_focus_weight(weight: Tensor) -> Tensor:
    """Reorder a Focus conv's input channels from ``Contract`` to slicing.

    edgeai-yolov5's ``Contract(gain=2)`` stacks the pixel phases as (row,
    col) = (0,0), (0,1), (1,0), (1,1); YOLOv5's slicing (and mmdet's Focus)
    as (0,0), (1,0), (0,1), (1,1). The weight's input channels are four
    blocks of ``in_channels / 4``; blocks 1 and 2 swap (the permutation is
    its own inverse).

    Args:
        weight (Tensor): (C_out, 4 * c, kh, kw).

    Returns:
        Tensor: The weight with input blocks 1 and 2 swapped.
    """
    if weight.ndim != 4 or weight.shape[1] % 4:
        raise ValueError('a Focus conv weight has 4 blocks of input '
                         f'channels; got shape {tuple(weight.shape)}')
    c = weight.shape[1] // 4
    blocks = weight.split(c, dim=1)
    return torch.cat([blocks[0], blocks[2], blocks[1], blocks[3]], dim=1)


def _rename(kind: str, rest: str) -> Optional[str]:
    for pattern, repl in _RENAMES[kind]:
        new, n = re.subn(pattern, repl, rest)
        if n:
            return new
    return None


def _layer_kind(index: int) -> Optional[str]:
    kind = LAYER_CLASSES.get(index, (None, ))[0]
    return 'SPP' if kind in ('SPP', 'SPPF') else kind


def _split_anchors(t: Tensor, num_anchors: int, num_det: int
                   ) -> Optional[Tuple[Tensor, Tensor]]:
    """Split a KAPAO output conv weight/bias (A * (det + extra), ...) into
    the per-anchor det and extra parts, each (A * part, ...)."""
    if t.shape[0] % num_anchors or t.shape[0] // num_anchors <= num_det:
        return None
    v = t.reshape(num_anchors, t.shape[0] // num_anchors, *t.shape[1:])
    det = v[:, :num_det].reshape(-1, *t.shape[1:]).clone()
    extra = v[:, num_det:].reshape(-1, *t.shape[1:]).clone()
    return det, extra


def _map_head(arch: str, key: str, rest: str, tensor: Tensor,
              result: YOLOv5Mapping, num_anchors: int,
              num_det_channels: int) -> bool:
    """Map one ``Detect`` tensor; False if it matches no rule."""

    def put(ours: str, t: Tensor) -> None:
        result.state_dict[ours] = t
        result.origin[ours] = key

    if rest in _HEAD_BUFFERS:
        result.buffers[rest] = tensor
        return True
    m = re.match(r'^m\.(\d+)\.(weight|bias)$', rest)
    if m:
        level, what = m.groups()
        if arch == 'yolopose':
            put(f'head.det_convs.{level}.{what}', tensor)
            return True
        parts = _split_anchors(tensor, num_anchors, num_det_channels)
        if parts is None:
            result.problems.append(
                f'{key} {tuple(tensor.shape)}: cannot split into {num_anchors} '
                f'anchors x ({num_det_channels} box/objectness/class + '
                'coordinates) channels')
            return True
        put(f'head.det_convs.{level}.{what}', parts[0])
        put(f'head.extra_convs.{level}.0.{what}', parts[1])
        return True
    if arch != 'yolopose':
        return False
    m = re.match(rf'^m_kpt\.(\d+)\.(\d+)\.{_LEAF}$', rest) or re.match(
        r'^m_kpt\.(\d+)\.(\d+)\.(?P<leaf>weight|bias)$', rest)
    if m:  # dw_conv_kpt=True: Sequential of 11 Conv + one nn.Conv2d
        put(f'head.extra_convs.{m.group(1)}.{m.group(2)}.{m.group("leaf")}',
            tensor)
        return True
    m = re.match(r'^m_kpt\.(\d+)\.(weight|bias)$', rest)
    if m:  # dw_conv_kpt=False: one nn.Conv2d per level
        put(f'head.extra_convs.{m.group(1)}.0.{m.group(2)}', tensor)
        return True
    return False


def map_yolov5_state_dict(state_dict: Mapping[str, Tensor],
                          arch: str = 'yolopose',
                          *,
                          focus: str = 'slice',
                          with_backbone: bool = True,
                          with_neck: bool = True,
                          with_head: bool = True,
                          num_anchors: int = 3,
                          num_det_channels: int = 23) -> YOLOv5Mapping:
    """Rename an original YOLOv5-P6 state dict to our module names.

    Backbone (layers 0-11) and neck (12-32) follow :data:`BACKBONE_LAYERS`
    and :data:`NECK_LAYERS` (C3: ``cv1/cv2/cv3`` -> ``main_conv/short_conv/
    final_conv``, ``m.k.cv1/cv2`` -> ``blocks.k.conv1/conv2``; SPP:
    ``cv1/cv2`` -> ``conv1/conv2``). The head (layer 33):

    - ``'yolopose'``: ``m.l`` -> ``head.det_convs.l``; the keypoint branch
      ``m_kpt.l.i`` -> ``head.extra_convs.l.i`` (``dw_conv_kpt``) or
      ``m_kpt.l`` -> ``head.extra_convs.l.0``; copied as they are (our
      head's ``layout='original'`` computes what the original did).
    - ``'kapao'``: ``m.l`` (A x (det + coordinates) outputs) is split per
      anchor into ``head.det_convs.l`` (the first ``num_det_channels`` of
      each anchor) and ``head.extra_convs.l.0`` (the rest).

    The ``Detect`` buffers ``anchors``/``anchor_grid`` are returned in
    ``buffers`` for checking, not mapped.

    Args:
        state_dict (Mapping[str, Tensor]): Original names
            (``model.<layer>.<...>``, an optional ``module.`` prefix).
        arch (str): ``'yolopose'`` or ``'kapao'`` (how the head maps).
        focus (str): The source's Focus order, ``'slice'`` or
            ``'contract'`` (then the stem conv's input blocks 1 and 2 are
            swapped, see :func:`permute_focus_weight`).
        with_backbone, with_neck, with_head (bool): Which parts to map; the
            source keys of the other parts go to ``skipped``.
        num_anchors (int): Anchors per cell (KAPAO's split).
        num_det_channels (int): Box, objectness and class channels per
            anchor of our head (KAPAO's split; 5 + 18 classes).

    Returns:
        YOLOv5Mapping: Mapped tensors and everything left over.
    """
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {ARCHS}, got {arch!r}')
    if focus not in ('slice', 'contract'):
        raise ValueError(f"focus must be 'slice' or 'contract', got {focus!r}")
    result = YOLOv5Mapping()
    for key, tensor in state_dict.items():
        m = _KEY.match(key)
        if m is None:
            result.unmatched.append(key)
            continue
        index, rest = int(m.group(1)), m.group(2)
        if index == HEAD_LAYER:
            if not with_head:
                result.skipped.append(key)
            elif not _map_head(arch, key, rest, tensor, result, num_anchors,
                               num_det_channels):
                result.unmatched.append(key)
            continue
        part = 'backbone' if index in BACKBONE_LAYERS else 'neck' \
            if index in NECK_LAYERS else None
        if part is None:
            result.unmatched.append(key)
            continue
        if not {'backbone': with_backbone, 'neck': with_neck}[part]:
            result.skipped.append(key)
            continue
        new_rest = _rename(_layer_kind(index), rest)
        if new_rest is None:
            result.unmatched.append(key)
            continue
        if index == 0 and rest == 'conv.conv.weight' and focus == 'contract':
            try:
                tensor = permute_focus_weight(tensor)
            except ValueError as e:
                result.problems.append(f'{key}: {e}')
        layers = BACKBONE_LAYERS if part == 'backbone' else NECK_LAYERS
        ours = f'{layers[index]}.{new_rest}'
        result.state_dict[ours] = tensor
        result.origin[ours] = key
    return result


# --------------------------------------------------------- source analysis
def identify_yolov5_checkpoint(state_dict: Mapping[str, Tensor],
                               info: Optional[dict] = None) -> Dict[str, Any]:
    """What an original YOLOv5-family state dict holds, from its tensors
    (and the recorded module attributes when ``info`` comes from
    :func:`load_original_checkpoint`).

    Returns:
        dict: ``arch`` (``'yolopose'``, ``'kapao'``, ``'yolov5'`` for a
        detector, or ``'unknown'``), ``detect_layer`` (index or None),
        ``num_levels``, ``num_anchors``, ``outputs_per_anchor`` and a
        human-readable ``description``.
    """
    detect = None
    for key in state_dict:
        m = _KEY.match(key)
        if m and m.group(2) in ('anchors', 'm.0.weight'):
            detect = max(detect or 0, int(m.group(1)))
    out = dict(arch='unknown', detect_layer=detect, num_levels=None,
               num_anchors=None, outputs_per_anchor=None,
               description='no YOLOv5 Detect layer found')
    if detect is None:
        return out
    prefix = next(k[:k.index(f'model.{detect}.')] + f'model.{detect}.'
                  for k in state_dict if f'model.{detect}.' in k)
    anchors = state_dict.get(prefix + 'anchors')
    levels = sorted({int(m.group(1)) for k in state_dict
                     for m in [re.match(re.escape(prefix) + r'm\.(\d+)\.weight$',
                                        k)] if m})
    na = int(anchors.shape[1]) if anchors is not None and anchors.ndim == 3 \
        else 3
    out.update(num_levels=len(levels), num_anchors=na)
    attrs = ((info or {}).get('modules') or {}).get(prefix[:-1], {}).get(
        'attrs', {})
    w = state_dict.get(prefix + 'm.0.weight')
    per = int(w.shape[0]) // na if w is not None and w.shape[0] % na == 0 \
        else None
    out['outputs_per_anchor'] = per
    where = f'Detect is layer {detect} with {len(levels)} levels'
    if any(k.startswith(prefix + 'm_kpt.') for k in state_dict):
        kw = [k for k in state_dict if k.startswith(prefix + 'm_kpt.0.')]
        dw = any(re.match(re.escape(prefix) + r'm_kpt\.0\.\d+\.', k)
                 for k in kw)
        out.update(arch='yolopose', description=(
            f'a YOLO-Pose checkpoint ({where}, box/class conv with {per} '
            f'outputs per anchor, keypoint branch m_kpt, dw_conv_kpt={dw})'))
    elif attrs.get('num_coords') or per == 57:
        out.update(arch='kapao', description=(
            f'a KAPAO checkpoint ({where}, one output conv with {per} '
            'outputs per anchor: box, objectness, 18 classes, 34 keypoint '
            'coordinates)'))
    elif per is not None and per > 5:
        out.update(arch='yolov5', description=(
            f'a YOLOv5 detector checkpoint ({where}, {per - 5} classes, no '
            'keypoint outputs)'))
    if detect != HEAD_LAYER:
        out['description'] += (
            f'; not a P6 model (P6 models have Detect at layer {HEAD_LAYER})')
    return out


def resolve_focus_order(info: dict, arch: str, focus: str = 'auto',
                        backbone_only: bool = False) -> str:
    """The Focus order of a source: ``'contract'`` or ``'slice'``.

    ``focus='auto'``: from the recorded module tree (a ``contract`` child of
    the ``Focus`` module means ``Contract``); for a plain state dict, YOLO-Pose
    sources default to ``'contract'`` (edgeai-yolov5's Focus) and KAPAO and
    YOLOv5 detectors (``backbone_only``) to ``'slice'``.
    """
    if focus in ('slice', 'contract'):
        return focus
    if focus != 'auto':
        raise ValueError(
            f"focus must be 'auto', 'slice' or 'contract', got {focus!r}")
    if info.get('focus_contract') is not None:
        return 'contract' if info['focus_contract'] else 'slice'
    return 'contract' if arch == 'yolopose' and not backbone_only else 'slice'


_ACT_ALIASES = {'swish': 'silu', 'hswish': 'hardswish', 'identity': 'none'}


def _act_name(name: Optional[str]) -> str:
    name = (name or 'none').rpartition('.')[2].lower()
    return _ACT_ALIASES.get(name, name)


def _spp_kernels(modules: Dict[str, dict], path: str) -> Optional[List[int]]:
    """Effective max-pool kernels of an original SPP/SPPF module."""

    def ks(p: str) -> Optional[int]:
        k = modules.get(p, {}).get('attrs', {}).get('kernel_size')
        k = k[0] if isinstance(k, list) and k else k
        return k if isinstance(k, int) else None

    cls = modules.get(path, {}).get('class', '').rpartition('.')[2]
    if cls == 'SPPF':
        k = ks(f'{path}.m')
        return None if k is None else [k, 2 * k - 1, 3 * k - 2]
    kernels = []
    for i in range(16):
        branch = f'{path}.m.{i}'
        if branch not in modules:
            break
        chain = [ks(p) for p in modules if p.startswith(branch + '.')
                 and p.count('.') == branch.count('.') + 1]
        if chain:  # edgeai: a Sequential of chained 3x3 pools
            if None in chain:
                return None
            kernels.append(sum(chain) - len(chain) + 1)
        else:
            k = ks(branch)
            if k is None:
                return None
            kernels.append(k)
    return kernels or None


def _check_architecture(info: dict, mapping: YOLOv5Mapping,
                        model: torch.nn.Module) -> List[str]:
    """Compare what the source's module tree records (activations, BN eps,
    SPP kernels, strides) with the model; a plain state dict records
    nothing, so nothing is checked."""
    modules = info.get('modules') or {}
    if not modules:
        return []
    ours = dict(model.named_modules())
    to_ours = {orig: key for key, orig in mapping.origin.items()}
    problems = []
    acts: Dict[Tuple[str, str], List[str]] = collections.defaultdict(list)
    for path, mod in modules.items():
        cls = mod['class'].rpartition('.')[2]
        m = _KEY.match(path + '.x')
        if m is None:
            continue
        index = int(m.group(1))
        expected = LAYER_CLASSES.get(index)
        if path == f'model.{index}' and expected and cls not in expected:
            problems.append(f'{path} is {mod["class"]}, expected '
                            f'{"/".join(expected)}')
        if cls.startswith('BatchNorm'):
            key = to_ours.get(f'{path}.weight')
            bn = ours.get(key.rpartition('.')[0]) if key else None
            eps = mod['attrs'].get('eps')
            if bn is not None and isinstance(eps, float) and \
                    abs(getattr(bn, 'eps', eps) - eps) > 1e-9:
                problems.append(f'{path}: BN eps {eps} in the source, '
                                f'{bn.eps} in ours ({key.rpartition(".")[0]})')
        if f'{path}.conv' in modules and f'{path}.bn' in modules:
            key = to_ours.get(f'{path}.conv.weight')
            conv_module = ours.get(key.rsplit('.', 2)[0]) if key else None
            if not hasattr(conv_module, 'with_activation'):  # a ConvModule
                continue
            theirs = _act_name(modules.get(f'{path}.act', {}).get('class'))
            mine = _act_name(type(conv_module.activate).__name__
                             if conv_module.with_activation else None)
            if theirs != mine:
                acts[(theirs, mine)].append(path)
    for (theirs, mine), paths in sorted(acts.items()):
        problems.append(f'activation {theirs} in the source, {mine} in ours: '
                        f'{", ".join(paths)}')
    spp = _spp_kernels(modules, 'model.10')
    our_spp = ours.get(BACKBONE_LAYERS[10])
    if spp is not None and our_spp is not None and \
            hasattr(our_spp, 'poolings'):
        mine = [p.kernel_size for p in our_spp.poolings]
        mine = [k[0] if isinstance(k, tuple) else k for k in mine]
        if list(spp) != mine:
            problems.append(f'SPP kernels {spp} in the source (model.10), '
                            f'{mine} in ours (backbone spp_kernal_sizes)')
    stride = (modules.get(f'model.{HEAD_LAYER}', {}).get('attrs', {}).get(
        'stride'))
    head = getattr(model, 'head', None)
    if isinstance(stride, list) and head is not None and \
            hasattr(head, 'featmap_strides') and \
            [float(s) for s in stride] != [float(s)
                                           for s in head.featmap_strides]:
        problems.append(f'strides {stride} in the source, '
                        f'{list(head.featmap_strides)} in ours')
    return problems


def _check_scaling(info: dict, cfg: Any) -> List[str]:
    """The source's yaml width/depth multiples against the config's
    backbone ``widen_factor``/``deepen_factor`` (e.g. an m6 checkpoint
    given the default s6 config)."""
    yaml = info.get('yaml') or {}
    backbone = cfg.model.get('backbone', {})
    pairs = [('width_multiple', 'widen_factor'),
             ('depth_multiple', 'deepen_factor')]
    diffs = [
        f'{theirs} {yaml[theirs]} vs {ours} {backbone[ours]}'
        for theirs, ours in pairs
        if isinstance(yaml.get(theirs), (int, float))
        and isinstance(backbone.get(ours), (int, float))
        and abs(yaml[theirs] - backbone[ours]) > 1e-6
    ]
    if not diffs:
        return []
    return ['the source model is scaled differently from the config ('
            f'{", ".join(diffs)}): pass the config of its size with --config '
            '(width/depth: s6 0.5/0.33, m6 0.75/0.67, l6 1.0/1.0)']


def _is_config_constant(key: str) -> bool:
    """Buffers of loss modules (``head.loss_kpt.sigmas``): set by the
    config, not learned, absent from the originals."""
    return any(part.startswith('loss_') for part in key.split('.')[:-1])


def _check_anchors(buffers: Dict[str, Tensor], head: torch.nn.Module,
                   tol: float = 1e-3) -> List[str]:
    """The source's anchors (grid units) times the strides must equal our
    head's anchors (pixels), to ``tol`` relative or absolute (fp16
    sources hold about 3 significant digits)."""
    src = buffers.get('anchors')
    ours = getattr(head, 'anchors', None)
    strides = getattr(head, 'featmap_strides', None)
    if src is None:
        return [f'the source has no model.{HEAD_LAYER}.anchors buffer; '
                'cannot check the anchors']
    if ours is None or strides is None:
        return ['our head has no anchors/featmap_strides to compare with']
    ours = ours.detach().float().cpu()
    if tuple(src.shape) != tuple(ours.shape) or len(strides) != src.shape[0]:
        return [f'anchors: source {tuple(src.shape)} (levels, anchors, 2), '
                f'ours {tuple(ours.shape)}']
    pixels = src.float() * torch.tensor(
        [float(s) for s in strides]).view(-1, 1, 1)
    if not torch.allclose(pixels, ours, rtol=tol, atol=tol):
        fmt = [[[round(v, 3) for v in a] for a in lvl]
               for lvl in pixels.tolist()]
        return [f'anchors differ: the source has (pixels) {fmt}, ours '
                f'{ours.tolist()}. Set model.head.anchors={fmt} in the '
                'config to use the source\'s anchors.']
    return []


def _check_mapping(mapping: YOLOv5Mapping, target: Dict[str, torch.Size],
                   header: str, problems: List[str]) -> None:
    missing = [k for k in target if k not in mapping.state_dict]
    unexpected = [f'{k} <- {mapping.origin[k]}' for k in mapping.state_dict
                  if k not in target]
    mismatched = [
        f'{k} <- {mapping.origin[k]}: {tuple(v.shape)} vs '
        f'{tuple(target[k])}' for k, v in mapping.state_dict.items()
        if k in target and tuple(v.shape) != tuple(target[k])
    ]
    problems = problems + mapping.problems
    if problems or mapping.unmatched or missing or unexpected or mismatched:
        raise ConversionError(header, problems, mapping.unmatched, missing,
                              unexpected, mismatched)


# ------------------------------------------------------------------- model
def load_config(config: Union[str, 'os.PathLike', Any]) -> Any:
    """An mmengine ``Config`` from a path (or the ``Config`` itself)."""
    from mmengine.config import Config
    if isinstance(config, Config):
        return config
    return Config.fromfile(os.fspath(config))


def build_pose_model(config: Union[str, Any]) -> torch.nn.Module:
    """Our model as the config defines it, on the CPU, without loading any
    pretrained weights (shapes and modules only)."""
    from mmengine.registry import DefaultScope
    from mmpose.registry import MODELS

    import posekit_plugins  # noqa: F401  (registers our modules)
    cfg = load_config(config)
    model_cfg = copy.deepcopy(cfg.model)
    for part in ('backbone', 'neck', 'head'):
        if isinstance(model_cfg.get(part), dict):
            model_cfg[part].pop('init_cfg', None)
    model_cfg.pop('init_cfg', None)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope',
                                                      'mmpose')):
        model = MODELS.build(model_cfg)
    return model.eval()


# ------------------------------------------------------------- conversion
def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def convert_yolov5_checkpoint(
        src: str,
        config: Union[str, Any],
        arch: str,
        *,
        backbone_only: bool = False,
        with_neck: bool = False,
        focus: str = 'auto',
        converter: Optional[str] = None,
) -> Tuple['collections.OrderedDict[str, Tensor]', dict]:
    """Convert an original YOLO-Pose / KAPAO (or, ``backbone_only``, YOLOv5
    detector) checkpoint into our model's state dict, checked completely.

    Args:
        src (str): The original checkpoint (read with
            :func:`load_original_checkpoint`, never executed).
        config (str | Config): The mmpose config of the target model.
        arch (str): ``'yolopose'`` or ``'kapao'``: the source and target
            architecture of a full conversion (a source of another
            architecture is refused).
        backbone_only (bool): Convert only the backbone (layers 0-11) of any
            YOLOv5-P6 checkpoint, e.g. a COCO detector, for ``load_from`` or
            a backbone ``init_cfg=dict(type='Pretrained', prefix=
            'backbone.')``.
        with_neck (bool): With ``backbone_only``, also the neck (12-32).
        focus (str): ``'auto'`` (see :func:`resolve_focus_order`),
            ``'contract'`` or ``'slice'``.
        converter (str, optional): Name recorded in the meta (the script).

    Returns:
        tuple: ``(state_dict, meta)``: fp32 OrderedDict with our names, and
        plain (str/int/float/list/dict) metadata for the checkpoint.

    Raises:
        ConversionError: Anything does not map; lists every problem.
    """
    if arch not in ARCHS:
        raise ValueError(f'arch must be one of {ARCHS}, got {arch!r}')
    if with_neck and not backbone_only:
        raise ValueError('with_neck only applies to backbone_only '
                         'conversions (a full conversion includes the neck)')
    src = osp.abspath(os.fspath(src))
    state, info = load_original_checkpoint(src)
    cfg = load_config(config)
    model = build_pose_model(cfg)
    target_all = {k: v.shape for k, v in model.state_dict().items()}
    head = getattr(model, 'head', None)

    source = identify_yolov5_checkpoint(state, info)
    focus_order = resolve_focus_order(info, arch, focus, backbone_only)
    num_anchors = int(getattr(head, 'num_anchors', 3))
    num_det = int(getattr(head, 'num_det_channels', 23))
    mapping = map_yolov5_state_dict(
        state, arch, focus=focus_order, with_backbone=True,
        with_neck=with_neck or not backbone_only,
        with_head=not backbone_only, num_anchors=num_anchors,
        num_det_channels=num_det)

    problems: List[str] = []
    if source['detect_layer'] not in (None, HEAD_LAYER) and (
            backbone_only or source['arch'] in (arch, 'unknown')):
        problems.append(f'the source is {source["description"]}')
    if backbone_only:
        parts = ('backbone.', 'neck.') if with_neck else ('backbone.', )
        target = {k: v for k, v in target_all.items() if k.startswith(parts)}
        what = 'backbone and neck' if with_neck else 'backbone'
    else:
        target = target_all
        what = arch
        if source['arch'] not in (arch, 'unknown'):
            other = {'yolopose': 'YOLO-Pose', 'kapao': 'KAPAO'}
            hint = (f'tools/model_converters/{source["arch"]}2mmpose.py'
                    if source['arch'] in ARCHS else '--backbone-only')
            problems.append(
                f'the source is {source["description"]}, not a '
                f'{other[arch]} checkpoint; use {hint}')
        elif head is not None:
            problems += _check_anchors(mapping.buffers, head)
    # constants of our losses (e.g. OKS sigmas) are buffers the originals do
    # not have: they come from the config
    own = {k: v.detach().clone() for k, v in model.state_dict().items()
           if k in target and _is_config_constant(k)}
    target_weights = {k: v for k, v in target.items() if k not in own}
    problems += _check_scaling(info, cfg)
    problems += _check_architecture(info, mapping, model)
    cfg_name = getattr(cfg, 'filename', None) or '<Config>'
    _check_mapping(
        mapping, target_weights,
        f'cannot convert {src} ({source["description"]}) to the {what} of '
        f'{cfg_name}:', problems)

    converted = collections.OrderedDict()
    for k in target:
        if k in own:  # as the config builds it (its dtype too)
            converted[k] = own[k]
            continue
        t = mapping.state_dict[k]
        converted[k] = t.to(torch.float32) if t.is_floating_point() else t
    meta = _meta(src, cfg_name, arch, converter, info, source, focus_order,
                 backbone_only, with_neck, mapping)
    meta['from_config'] = sorted(own)  # plain strs
    return converted, meta


def _meta(src: str, cfg_name: str, arch: str, converter: Optional[str],
          info: dict, source: dict, focus_order: str, backbone_only: bool,
          with_neck: bool, mapping: YOLOv5Mapping) -> dict:
    import mmpose

    from ..version import __version__
    plain_info = {
        k: info.get(k)
        for k in ('keys', 'used', 'format', 'epoch', 'best_fitness', 'dtypes')
    }
    return _builtin(dict(
        source=dict(path=src, sha256=_sha256(src), **plain_info,
                    description=source['description']),
        config=osp.abspath(cfg_name) if osp.isfile(cfg_name) else cfg_name,
        converter=converter or __name__,
        arch=arch,
        backbone_only=backbone_only,
        with_neck=with_neck,
        focus_order=focus_order,
        original_keys=dict(mapping.origin),
        mmpose_version=mmpose.__version__,
        posekit_plugins_version=__version__,
        torch_version=torch.__version__,
        time=datetime.datetime.now().isoformat(timespec='seconds'),
    ))


def _builtin(obj: Any) -> Any:
    """A copy made of exact builtin types (``torch.__version__`` is a str
    subclass that ``weights_only`` loading refuses)."""
    if isinstance(obj, dict):
        return {str(k): _builtin(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_builtin(v) for v in obj]
    if obj is None or isinstance(obj, bool):
        return obj
    for t in (int, float, str):
        if isinstance(obj, t):
            return t(obj)
    raise TypeError(f'not plain metadata: {obj!r}')


def save_mmengine_checkpoint(state_dict: Mapping[str, Tensor], meta: dict,
                             dst: str) -> str:
    """Write ``{'meta': meta, 'state_dict': state_dict}`` atomically.

    The file is written next to ``dst`` under a temporary name, read back
    with ``torch.load(weights_only=True)`` (as mmengine loads it under torch
    >= 2.6) and only then renamed to ``dst``; on any error nothing is left.

    Returns:
        str: The absolute path written.
    """
    dst = osp.abspath(os.fspath(dst))
    out_dir = osp.dirname(dst)
    os.makedirs(out_dir, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{osp.basename(dst)}.', suffix='.tmp',
                               dir=out_dir)
    try:
        with os.fdopen(fd, 'wb') as f:
            torch.save({'meta': meta,
                        'state_dict': collections.OrderedDict(state_dict)}, f)
        back = torch.load(tmp, map_location='cpu', weights_only=True)
        if list(back['state_dict']) != list(state_dict):
            raise RuntimeError(f'{tmp} did not read back as written')
        os.replace(tmp, dst)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return dst


__all__ = [
    'ARCHS', 'BACKBONE_LAYERS', 'ConversionError', 'HEAD_LAYER',
    'LAYER_CLASSES', 'NECK_LAYERS', 'YOLOv5Mapping', 'build_pose_model',
    'convert_yolov5_checkpoint', 'identify_yolov5_checkpoint', 'load_config',
    'map_yolov5_state_dict', 'permute_focus_weight', 'resolve_focus_order',
    'save_mmengine_checkpoint'
]
