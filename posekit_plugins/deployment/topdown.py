"""ONNX export of top-down heatmap models with the decoding in the graph.

The graph takes a batch of person crops, already normalised as the config's
``data_preprocessor`` does (the runner crops and normalises,
:class:`~posekit_plugins.deployment.ONNXPoseRunner`), and returns keypoints
in the crop's pixels and their scores: backbone, head, then the codec's
decoding as tensor ops (argmax and, for :class:`DARKHeatmap`, DARK's
distribution-aware Taylor refinement).
"""
import inspect
import os.path as osp
import warnings
from pathlib import Path
from typing import Optional, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..codecs.dark_refinement import (
    get_heatmap_maximum_torch,
    refine_keypoints_dark_torch,
)

__all__ = [
    'export_topdown', 'HeatmapDecodingModule', 'TopdownHeatmapExportModel',
    'msra_decode_torch', 'topdown_export_meta', 'TOPDOWN_OUTPUTS'
]

#: output names of an exported top-down graph (``heatmaps`` only with
#: ``output_heatmaps=True``)
TOPDOWN_OUTPUTS = ('keypoints', 'keypoint_scores')
#: the opset torch's ONNX exporter (``dynamo=True``) writes; older ones are
#: converted from it with onnx's version converter
EXPORT_OPSET = 18
#: the oldest opset the graph converts to (onnx has no adapter taking
#: ``Shape`` below 15)
MIN_TOPDOWN_OPSET = 15


def msra_decode_torch(heatmaps: Tensor, scale_factor: Sequence[float],
                      unbiased: bool = False,
                      blur_kernel_size: int = 11) -> Tuple[Tensor, Tensor]:
    """mmpose's ``MSRAHeatmap.decode`` for a batch, with torch ops only.

    ``unbiased=False``: the argmax moved a quarter pixel towards the higher
    neighbour along x and y (mmpose's ``refine_keypoints``, with its index
    conditions: an x step needs ``1 < x < W - 1``, a y step ``1 < y < H - 1``).
    ``unbiased=True``: the argmax refined by DARK's Taylor step
    (:func:`refine_keypoints_dark_torch`, which agrees with mmpose's
    ``refine_keypoints_dark`` to float32 rounding where the modulated map is
    above its 1e-10 floor near the maximum). Scores are the raw maxima, as
    mmpose's; locations of non-positive maxima are -1 before scaling.

    Note:
        - batch size: B
        - keypoint number: K
        - heatmap size: [W, H]

    Args:
        heatmaps (Tensor): (B, K, H, W).
        scale_factor (Sequence[float]): input size / heatmap size, (sx, sy).
        unbiased (bool): DARK refinement instead of the quarter offset.
        blur_kernel_size (int): Modulation kernel of ``unbiased``.

    Returns:
        tuple:
        - keypoints (Tensor): (B, K, 2) in the input (crop) pixels.
        - scores (Tensor): (B, K).
    """
    B, K, H, W = heatmaps.shape
    locs, vals = get_heatmap_maximum_torch(heatmaps)
    if unbiased:
        keypoints = refine_keypoints_dark_torch(locs, heatmaps,
                                                blur_kernel_size)
    else:
        x = locs[..., 0].long()
        y = locs[..., 1].long()
        flat = heatmaps.reshape(B, K, H * W)

        def at(xx: Tensor, yy: Tensor) -> Tensor:
            # clamped gather; out-of-range reads are masked below
            idx = yy.clamp(0, H - 1) * W + xx.clamp(0, W - 1)
            return flat.gather(-1, idx.unsqueeze(-1)).squeeze(-1)

        has_dx = (x > 1) & (x < W - 1) & (y > 0) & (y < H)
        has_dy = (y > 1) & (y < H - 1) & (x > 0) & (x < W)
        dx = torch.where(has_dx, at(x + 1, y) - at(x - 1, y),
                         torch.zeros_like(vals))
        dy = torch.where(has_dy, at(x, y + 1) - at(x, y - 1),
                         torch.zeros_like(vals))
        keypoints = locs + torch.stack((dx, dy), dim=-1).sign().to(
            locs.dtype) * 0.25
    scale = torch.tensor([float(s) for s in scale_factor],
                         dtype=keypoints.dtype, device=keypoints.device)
    return keypoints * scale, vals


class HeatmapDecodingModule(nn.Module):
    """A top-down heatmap codec's decoding as a traceable module.

    :class:`DARKHeatmap` runs its own :meth:`DARKHeatmap.decode_torch` (the
    code its ``batch_decode`` runs); mmpose's ``MSRAHeatmap`` runs
    :func:`msra_decode_torch`. Other codecs raise a ``ValueError``.

    Note:
        (B, K, H, W) heatmaps -> keypoints (B, K, 2) in input (crop) pixels
        and scores (B, K).

    Args:
        codec: The head's decoder (an instance).
    """

    SUPPORTED = ('DARKHeatmap', 'MSRAHeatmap')

    def __init__(self, codec) -> None:
        super().__init__()
        name = type(codec).__name__
        if name not in self.SUPPORTED:
            raise ValueError(
                f'cannot export the decoding of codec {name!r}: supported '
                f'top-down heatmap codecs are {list(self.SUPPORTED)}')
        if name == 'MSRAHeatmap' and getattr(codec, 'sigma', None) is None:
            raise ValueError('MSRAHeatmap without sigma is not supported')
        self.codec = codec
        self.codec_name = name

    def forward(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        if self.codec_name == 'DARKHeatmap':
            keypoints, scores = self.codec.decode_torch(heatmaps)
        else:
            keypoints, scores = msra_decode_torch(
                heatmaps, self.codec.scale_factor, self.codec.unbiased,
                self.codec.blur_kernel_size)
        return keypoints, scores.float()

    def meta(self) -> dict:
        """The decoding's settings (for the export metadata)."""
        c = self.codec
        out = dict(type=self.codec_name, input_size=list(c.input_size),
                   heatmap_size=list(c.heatmap_size), sigma=float(c.sigma))
        if self.codec_name == 'DARKHeatmap':
            out.update(blur_kernel_size=c.blur_kernel_size, refinement='dark')
        else:
            out.update(unbiased=bool(c.unbiased),
                       blur_kernel_size=c.blur_kernel_size,
                       refinement='dark' if c.unbiased else 'quarter_offset')
        return out


class TopdownHeatmapExportModel(nn.Module):
    """Backbone, neck, head and decoding of a ``TopdownPoseEstimator`` whose
    head returns heatmaps, for tracing.

    With ``flip_test`` the crops also run horizontally flipped and the
    heatmaps are merged as mmpose's ``HeatmapHead.predict`` does (its
    ``flip_heatmaps``: flip, swap left/right channels, optional one-pixel
    shift; mean of the two), before decoding: twice the network cost.

    Note:
        input (B, 3, h, w) normalised crops -> keypoints (B, K, 2) in crop
        pixels, keypoint_scores (B, K)[, heatmaps (B, K, H, W)].

    Args:
        model (nn.Module): The pose estimator (eval mode).
        flip_test (bool): Merge the flipped crops' heatmaps.
        flip_indices (Sequence[int], optional): Left/right swap of the
            keypoints (the dataset's ``flip_indices``); needed by
            ``flip_test``.
        shift_heatmap (bool): Shift the flipped heatmaps by one pixel
            (mmpose's ``shift_heatmap``).
        output_heatmaps (bool): Also return the (merged) heatmaps.
    """

    def __init__(self,
                 model: nn.Module,
                 flip_test: bool = False,
                 flip_indices: Optional[Sequence[int]] = None,
                 shift_heatmap: bool = False,
                 output_heatmaps: bool = False) -> None:
        super().__init__()
        head = getattr(model, 'head', None)
        if head is None or not hasattr(model, 'extract_feat'):
            raise ValueError(
                f'{type(model).__name__} is not a top-down pose estimator '
                '(no extract_feat / head)')
        if getattr(head, 'decoder', None) is None:
            raise ValueError(f'{type(head).__name__} has no decoder (codec) '
                             'to put in the graph')
        self.model = model
        self.decoding = HeatmapDecodingModule(head.decoder)
        self.flip_test = bool(flip_test)
        if self.flip_test and flip_indices is None:
            raise ValueError('flip_test needs the dataset flip_indices')
        self.flip_indices = None if flip_indices is None else \
            [int(i) for i in flip_indices]
        self.shift_heatmap = bool(shift_heatmap)
        self.output_heatmaps = bool(output_heatmaps)

    def heatmaps(self, inputs: Tensor) -> Tensor:
        heatmaps = self.model.head.forward(self.model.extract_feat(inputs))
        if not isinstance(heatmaps, Tensor) or heatmaps.ndim != 4:
            raise ValueError(
                f'{type(self.model.head).__name__}.forward must return '
                '(B, K, H, W) heatmaps to export, got '
                f'{type(heatmaps).__name__}')
        if self.flip_test:
            from mmpose.models.utils.tta import flip_heatmaps
            flipped = self.model.head.forward(
                self.model.extract_feat(inputs.flip(-1)))
            flipped = flip_heatmaps(
                flipped, flip_indices=self.flip_indices, flip_mode='heatmap',
                shift_heatmap=self.shift_heatmap)
            heatmaps = (heatmaps + flipped) * 0.5
        return heatmaps

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        heatmaps = self.heatmaps(inputs)
        keypoints, scores = self.decoding(heatmaps)
        if self.output_heatmaps:
            return keypoints, scores, heatmaps
        return keypoints, scores


def _find_transform(cfg, name: str) -> Optional[dict]:
    dl = cfg.get('test_dataloader', None) or cfg.get('val_dataloader', None)
    pipeline = list(dl.dataset.pipeline) if dl is not None else []
    for t in pipeline:
        if t['type'].split('.')[-1] == name:
            return dict(t)
    return None


def _dataset_meta(model, cfg) -> dict:
    """The dataset metainfo (keypoint names, skeleton, colours, sigmas,
    flip indices) as JSON-able values, from the model or the config."""
    meta = getattr(model, 'dataset_meta', None)
    if not meta:
        from mmpose.datasets.datasets.utils import parse_pose_metainfo
        from_file = None
        dl = cfg.get('test_dataloader', None) or cfg.get(
            'val_dataloader', None)
        if dl is not None:
            info = dl.dataset.get('metainfo', None) or {}
            from_file = info.get('from_file', None)
        meta = parse_pose_metainfo(
            dict(from_file=from_file or 'configs/_base_/datasets/coco.py'))
    keep = ('dataset_name', 'num_keypoints', 'keypoint_id2name',
            'keypoint_name2id', 'upper_body_ids', 'lower_body_ids',
            'flip_indices', 'flip_pairs', 'keypoint_colors', 'num_skeleton_links',
            'skeleton_links', 'skeleton_link_colors', 'dataset_keypoint_weights',
            'sigmas')
    return {k: meta[k] for k in keep if k in meta}


def topdown_export_meta(model, cfg, export_model: TopdownHeatmapExportModel,
                        input_size: Tuple[int, int],
                        dynamic_batch: bool) -> dict:
    """The metadata the runner needs to crop, normalise and map back.

    Keys besides C1's common ones (:mod:`.meta`): ``decoding`` (codec
    settings), ``topdown`` (``bbox_padding`` of ``GetBBoxCenterScale``,
    ``use_udp`` of ``TopdownAffine``, ``flip_test``), ``dataset_meta``
    (embedded metainfo) and ``dynamic_batch``.
    """
    from .meta import preprocessor_meta, test_pipeline_meta
    pre = preprocessor_meta(cfg)
    center_scale = _find_transform(cfg, 'GetBBoxCenterScale') or {}
    affine = _find_transform(cfg, 'TopdownAffine')
    if affine is None:
        raise ValueError('the config\'s test pipeline has no TopdownAffine: '
                         'not a top-down heatmap config')
    dataset_meta = _dataset_meta(model, cfg)
    filename = getattr(cfg, 'filename', None)
    return dict(
        family='topdown',
        config=osp.basename(filename) if filename else None,
        input_size=[int(v) for v in input_size],
        **pre,
        num_keypoints=int(model.head.out_channels),
        outputs=list(TOPDOWN_OUTPUTS) +
        (['heatmaps'] if export_model.output_heatmaps else []),
        output_space='crop',
        decoding=export_model.decoding.meta(),
        topdown=dict(
            bbox_padding=float(center_scale.get('padding', 1.25)),
            use_udp=bool(affine.get('use_udp', False)),
            flip_test=export_model.flip_test,
            shift_heatmap=export_model.shift_heatmap),
        test_pipeline=test_pipeline_meta(cfg, input_size),
        dataset_meta=dataset_meta,
        dynamic_batch=bool(dynamic_batch),
        opset=None,  # filled after the export
    )


def _onnx_export(module: nn.Module, example: Tensor, out: str, opset: int,
                 dynamic_batch: bool, output_names: Sequence[str]) -> None:
    """torch's ``dynamo=True`` exporter: a graph that depends on a Python
    value computed from the input (``.item()``, ``.numpy()``, a branch on a
    tensor) fails torch.export instead of being baked in as a constant.
    It writes opset >= :data:`EXPORT_OPSET`; an older ``opset`` is reached
    with :func:`convert_opset`."""
    import onnx
    if 'dynamo' not in inspect.signature(torch.onnx.export).parameters:
        _torchscript_export(module, example, out, opset, dynamic_batch,
                            output_names)
        return
    kwargs = dict(dynamo=True, input_names=['input'],
                  output_names=list(output_names),
                  opset_version=max(int(opset), EXPORT_OPSET),
                  external_data=False)
    if dynamic_batch:
        kwargs['dynamic_shapes'] = ({0: torch.export.Dim('batch')}, )
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # exporter chatter
        program = torch.onnx.export(module, (example, ), **kwargs)
    if int(opset) >= EXPORT_OPSET:
        program.save(out)
        return
    onnx.save(convert_opset(program.model_proto, int(opset)), out)


def _torchscript_export(module: nn.Module, example: Tensor, out: str,
                        opset: int, dynamic_batch: bool,
                        output_names: Sequence[str]) -> None:
    """The TorchScript exporter, for torch < 2.5 (no ``dynamo=True``): a
    static batch only (it cannot export the refinement's ``unfold`` with a
    dynamic batch), and a trace that reads values out of tensors fails."""
    if dynamic_batch:
        raise ValueError(
            f'a dynamic-batch top-down export needs torch >= 2.5 (its '
            f'dynamo=True ONNX exporter); torch {torch.__version__} can '
            'export a fixed batch: leave out --dynamic-batch')
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', torch.jit.TracerWarning)
        torch.onnx.export(module, (example, ), out, input_names=['input'],
                          output_names=list(output_names),
                          opset_version=int(opset), do_constant_folding=True)
    # torch < 2.5 traces shape checks (`x.shape[-1] < 1`) as tensors and
    # warns about them, so warnings alone cannot tell a baked-in value:
    # the graph must compute what the module computes on two other inputs
    tracer = [f'{w.filename}:{w.lineno}: {w.message}' for w in caught
              if issubclass(w.category, torch.jit.TracerWarning)]
    try:
        _check_against_module(out, module, example)
    except Exception as e:
        Path(out).unlink(missing_ok=True)
        raise RuntimeError(
            f'{e}\nthe trace read values from tensors, which the graph may '
            'hold as constants:\n  ' + '\n  '.join(tracer)) from e


def _check_against_module(out: str, module: nn.Module,
                          example: Tensor) -> None:
    """Raise unless every output of ``out`` depends on its input and
    onnxruntime equals ``module`` (keypoints 1e-2 px, scores 1e-4) on two
    random inputs of ``example``'s shape."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    from .export import outputs_without_input
    const = outputs_without_input(onnx.load(out))
    if const:
        raise RuntimeError(f'{out}: outputs {const} do not depend on the '
                           'graph input')
    sess = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    gen = torch.Generator().manual_seed(0)
    for _ in range(2):
        x = torch.randn(example.shape, generator=gen).to(example)
        with torch.no_grad():
            ref = [t.cpu().numpy() for t in module(x)]
        got = sess.run(None, {'input': x.cpu().numpy()})
        for name, r, g, tol in zip(TOPDOWN_OUTPUTS, ref, got, (1e-2, 1e-4)):
            err = float(np.abs(r - g).max())
            if not err <= tol:
                raise RuntimeError(
                    f'{out}: onnxruntime {name} differ from PyTorch by '
                    f'{err:.3g} (> {tol}) on a random input')


def convert_opset(proto, opset: int):
    """``proto`` (opset 18) converted to ``opset`` by onnx's version
    converter, and checked.

    The converter's ReduceMax / ReduceMin adapter (18 -> 17) moves ``axes``
    back to an attribute but keeps ``noop_with_empty_axes``, which opset 13
    does not know; with the axes given and the attribute at its default 0,
    dropping it changes nothing, so it is dropped.
    """
    import onnx
    from onnx import version_converter
    if opset < MIN_TOPDOWN_OPSET:
        raise ValueError(f'opset {opset} is too old for the top-down export '
                         f'(oldest: {MIN_TOPDOWN_OPSET})')
    try:
        converted = version_converter.convert_version(proto, opset)
    except Exception as e:  # onnx raises RuntimeError / InferenceError
        raise ValueError(
            f'cannot convert the top-down graph from opset {EXPORT_OPSET} to '
            f'{opset}: {e}; use --opset {EXPORT_OPSET}') from e
    for node in converted.graph.node:
        if node.op_type in ('ReduceMax', 'ReduceMin'):
            names = {a.name for a in node.attribute}
            keep = [a for a in node.attribute
                    if not (a.name == 'noop_with_empty_axes' and a.i == 0
                            and 'axes' in names)]
            del node.attribute[:]
            node.attribute.extend(keep)
    onnx.checker.check_model(converted, full_check=True)
    return converted


def export_topdown(model: nn.Module,
                   cfg,
                   out: str,
                   input_size: Optional[Sequence[int]] = None,
                   opset: int = 17,
                   dynamic_batch: bool = False,
                   *,
                   flip_test: bool = False,
                   output_heatmaps: bool = False) -> str:
    """Export a top-down heatmap model with its decoding to ONNX.

    The graph: ``input`` float32 (B, 3, h, w) crops normalised as the
    config's ``data_preprocessor`` (mean / std, channel order; the runner
    does it) -> ``keypoints`` (B, K, 2) in crop pixels (the codec's input
    space: mmpose's ``decode`` output before ``add_pred_to_datasample``
    maps it to the image) and ``keypoint_scores`` (B, K); with
    ``output_heatmaps`` also ``heatmaps`` (B, K, H, W). The decoding is the
    codec's, as tensor ops: :class:`DARKHeatmap` (argmax + DARK's Taylor
    refinement on the Gaussian-modulated log heatmap, the same torch code as
    its ``batch_decode``) or mmpose's ``MSRAHeatmap`` (quarter offset, or
    DARK refinement with ``unbiased=True``).

    No flip test by default (the configs' ``test_cfg.flip_test`` is
    ignored): ``flip_test=True`` puts the flipped pass and mmpose's heatmap
    merge in the graph, at twice the network cost. The metadata (written
    into the file, :func:`~posekit_plugins.deployment.read_export_meta`)
    carries what the runner needs to crop like the test pipeline
    (``GetBBoxCenterScale`` padding, ``TopdownAffine``), normalise, and
    draw (the dataset metainfo).

    Note:
        - batch size: B (1, or any with ``dynamic_batch``)
        - keypoint number: K
        - input (crop) size: [w, h]; heatmap size: [W, H]

    Args:
        model (nn.Module): A built ``TopdownPoseEstimator`` with its weights,
            in eval mode.
        cfg (Config): Its config.
        out (str): The ``.onnx`` file to write.
        input_size (Sequence[int], optional): (w, h); must equal the codec's
            input size (the heatmap decoding is tied to it). Defaults to it.
        opset (int): ONNX opset, >= 15 (the graph is written in 18 and
            converted down). Defaults to 17.
        dynamic_batch (bool): A dynamic batch axis.
        flip_test (bool): Flip test in the graph. Defaults to False.
        output_heatmaps (bool): Also output the heatmaps. Defaults to False.

    Returns:
        str: ``out``.
    """
    from .meta import write_export_meta
    head = getattr(model, 'head', None)
    codec = getattr(head, 'decoder', None)
    if codec is None:
        raise ValueError(f'{type(model).__name__} has no head.decoder: not a '
                         'top-down heatmap model')
    codec_size = tuple(int(v) for v in codec.input_size)
    if input_size is None:
        input_size = codec_size
    input_size = tuple(int(v) for v in input_size)
    if input_size != codec_size:
        raise ValueError(
            f'input_size {input_size} differs from the codec input size '
            f'{codec_size} (w, h): a top-down heatmap model is exported at '
            'the crop size it was trained and decoded for')
    if int(opset) < MIN_TOPDOWN_OPSET:
        raise ValueError(
            f'opset {opset} is too old for the top-down export: torch '
            f'{torch.__version__}\'s ONNX exporter writes opset '
            f'{EXPORT_OPSET} and onnx\'s converter has no adapter below '
            f'{MIN_TOPDOWN_OPSET} for its Shape op; use --opset '
            f'{MIN_TOPDOWN_OPSET} or newer')
    if flip_test:
        flip_indices = (getattr(model, 'dataset_meta', None) or {}).get(
            'flip_indices')
        if flip_indices is None:
            raise ValueError('flip_test needs model.dataset_meta '
                             '["flip_indices"] (build the model with '
                             'mmpose.apis.init_model)')
    else:
        flip_indices = None
    test_cfg = getattr(model, 'test_cfg', None) or {}
    export_model = TopdownHeatmapExportModel(
        model, flip_test=flip_test, flip_indices=flip_indices,
        shift_heatmap=test_cfg.get('shift_heatmap', False),
        output_heatmaps=output_heatmaps).eval()

    param = next(model.parameters(), None)
    device = param.device if param is not None else torch.device('cpu')
    w, h = input_size
    # batch 2 when dynamic: torch.export specialises sizes 0 and 1
    example = torch.zeros(2 if dynamic_batch else 1, 3, h, w, device=device)
    output_names = list(TOPDOWN_OUTPUTS) + (['heatmaps']
                                            if output_heatmaps else [])
    meta = topdown_export_meta(model, cfg, export_model, input_size,
                               dynamic_batch)
    with torch.no_grad():
        _onnx_export(export_model, example, out, opset, dynamic_batch,
                     output_names)
    import onnx
    proto = onnx.load(out)
    inputs = [i.name for i in proto.graph.input]
    if inputs != ['input']:
        raise RuntimeError(f'the exported graph has inputs {inputs}, '
                           "expected ['input']")
    meta['opset'] = max((o.version for o in proto.opset_import
                         if o.domain in ('', 'ai.onnx')), default=None)
    write_export_meta(out, meta)
    return str(out)

