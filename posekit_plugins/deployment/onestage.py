"""End-to-end ONNX export of the one-stage anchor models (YOLO-Pose, KAPAO).

The graph: network input -> backbone, neck, head maps -> the heads' own
decoding (:func:`decode_anchor_outputs`) -> score filter -> ONNX
``NonMaxSuppression`` -> top-k -> fixed-size outputs. What cannot be a
fixed-size tensor program without changing results stays outside, in one
numpy function shared with the PyTorch path: KAPAO's fusion
(:func:`fuse_keypoint_objects_np`), applied by :func:`postprocess_onestage`
together with the clipping to the original image (whose bounds depend on
each image's letterbox, which the graph does not see).
"""
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from torch import Tensor

from ..models.heads import KAPAOHead, YOLOAnchorHead
from ..models.heads.kapao_head import KAPAO_TEST_CFG
from ..models.task_modules import (
    MIN_NMS_OPSET,
    batched_select_nms,
    gather_rows,
    image_bounds,
)
from ..models.utils import fuse_keypoint_objects_np
from .meta import (
    dataset_meta,
    preprocessor_meta,
    test_pipeline_meta,
    write_export_meta,
)

#: the graph's outputs (names fixed: the runner reads them)
ONESTAGE_OUTPUTS = ('boxes', 'scores', 'keypoints', 'keypoint_scores',
                    'num_dets')
#: KAPAO's extra outputs, the keypoint objects (fused by the runner)
KAPAO_OUTPUTS = ('kpt_obj_boxes', 'kpt_obj_scores', 'kpt_obj_labels',
                 'num_kpt_objs')
#: the YOLO-Pose head's inference defaults (YOLOAnchorHead._predict_single)
ANCHOR_TEST_CFG = dict(score_thr=0.001, nms_thr=0.6, nms_pre=30000,
                       max_per_img=300, clip_keypoints=True)


def onestage_test_cfg(head: YOLOAnchorHead, test_cfg: Optional[dict]) -> dict:
    """The head's inference settings: its defaults updated by ``test_cfg``
    (what its ``predict`` reads)."""
    base = KAPAO_TEST_CFG if isinstance(head, KAPAOHead) else ANCHOR_TEST_CFG
    return {**ANCHOR_TEST_CFG, **base, **dict(test_cfg or {})}


class OneStageExportModel(nn.Module):
    """A one-stage anchor model as one traceable graph with fixed outputs.

    Note:
        - input: (B, 3, H, W) float32, the data preprocessor's output
        - ``boxes`` (B, N, 4) xyxy and ``keypoints`` (B, N, K, 2) in input
          pixels, not clipped; ``scores`` (B, N); ``keypoint_scores``
          (B, N, K); ``num_dets`` (B,) int64; N = ``max_per_img``, rows
          after ``num_dets`` are zeros
        - KAPAO with fusion adds the keypoint objects ``kpt_obj_boxes``
          (B, M, 4), ``kpt_obj_scores`` (B, M), ``kpt_obj_labels`` (B, M)
          int64 keypoint type in [0, K), ``num_kpt_objs`` (B,), M =
          ``kpt_max_per_img``; its ``keypoint_scores`` are the person
          score until :func:`postprocess_onestage` fuses

    Args:
        model (nn.Module): A ``BottomupPoseEstimator`` whose head is a
            :class:`YOLOAnchorHead` with keypoints (``YOLOPoseHead``,
            ``KAPAOHead``).
        test_cfg (dict, optional): Inference settings; the model's
            ``test_cfg`` when None.
    """

    def __init__(self, model: nn.Module, test_cfg: Optional[dict] = None):
        super().__init__()
        head = getattr(model, 'head', None)
        if not isinstance(head, YOLOAnchorHead) or not hasattr(
                head, 'num_keypoints'):
            raise TypeError(
                'OneStageExportModel needs a model whose head is a '
                'YOLOAnchorHead with keypoints (YOLOPoseHead, KAPAOHead), got '
                f'{type(head).__name__}')
        self.model = model
        self.is_kapao = isinstance(head, KAPAOHead)
        self.cfg = onestage_test_cfg(
            head, test_cfg if test_cfg is not None else getattr(
                model, 'test_cfg', None))

    @property
    def output_names(self) -> Tuple[str, ...]:
        fuse = self.is_kapao and self.cfg['fuse_keypoint_objects']
        return ONESTAGE_OUTPUTS + (KAPAO_OUTPUTS if fuse else ())

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        head = self.model.head
        decoded = head.decode(head.forward(self.model.extract_feat(inputs)))
        cfg = self.cfg
        K = head.num_keypoints
        # N, fixed by the input size: read eagerly, a constant when tracing
        if not torch.jit.is_tracing():
            self.num_candidates = int(decoded['obj'].shape[1])
        elif self.num_candidates is None:
            raise RuntimeError('run the module once before tracing it')
        n_cand = self.num_candidates
        cls = decoded['pose_cls'] if self.is_kapao else decoded['cls']
        cls_score, labels = cls.max(-1)
        scores = decoded['obj'] * cls_score
        idx, valid, num = batched_select_nms(
            decoded['bboxes'], scores, labels, cls.shape[-1],
            cfg['score_thr'], cfg['nms_thr'], cfg['nms_pre'],
            cfg['max_per_img'], n_cand)
        det_scores = _masked(gather_rows(scores, idx), valid)
        if self.is_kapao:
            kpt_scores = det_scores[..., None].expand(-1, -1, K)
        else:
            kpt_scores = _masked(
                gather_rows(decoded['keypoint_scores'], idx), valid)
        out = (_masked(gather_rows(decoded['bboxes'], idx), valid),
               det_scores,
               _masked(gather_rows(decoded['keypoints'], idx), valid),
               kpt_scores, num)
        if self.output_names == ONESTAGE_OUTPUTS:
            return out
        # keypoint objects: each anchor's best class if it is a keypoint
        label = decoded['best_label']
        score = torch.where(label > 0, decoded['best_score'],
                            torch.full_like(decoded['best_score'], -1.0))
        kidx, kvalid, knum = batched_select_nms(
            decoded['bboxes'], score, label, 1 + K, cfg['kpt_score_thr'],
            cfg['kpt_nms_thr'], cfg['nms_pre'], cfg['kpt_max_per_img'], n_cand)
        return out + (_masked(gather_rows(decoded['bboxes'], kidx), kvalid),
                      _masked(gather_rows(score, kidx), kvalid),
                      _masked(gather_rows(label, kidx) - 1, kvalid), knum)


def _masked(x: Tensor, valid: Tensor) -> Tensor:
    """Zeros where ``valid`` (B, N) is False; x (B, N, ...)."""
    v = valid.reshape(*valid.shape, *([1] * (x.dim() - 2)))
    return torch.where(v, x, torch.zeros_like(x))


# ------------------------------------------------------------ post-process
def postprocess_onestage(outputs: Dict[str, np.ndarray], meta: dict,
                         img_metas: Union[None, dict, Sequence[dict]] = None
                         ) -> Union[Dict[str, np.ndarray],
                                    List[Dict[str, np.ndarray]]]:
    """Finish the graph's outputs as the head's ``predict`` does: keep the
    ``num_dets`` rows, clip to the original image and, for KAPAO, fuse the
    keypoint objects.

    Numpy only; the fusion is :func:`fuse_keypoint_objects_np`, the function
    the PyTorch path runs on CPU. The result equals the head's
    ``pred_instances`` in input pixels (``BottomupPoseEstimator`` then maps
    them to the image with ``input_center`` / ``input_scale``).

    Note:
        - outputs: the graph's outputs by name, see
          :class:`OneStageExportModel`, with the batch dimension (B) or
          for one image without it
        - per image: ``boxes`` (n, 4), ``scores`` (n,), ``keypoints``
          (n, K, 2), ``keypoint_scores`` (n, K), n = its ``num_dets``

    Args:
        outputs (dict): Output name -> array.
        meta (dict): The export metadata (:func:`read_export_meta`); its
            ``postprocess`` entry holds the settings.
        img_metas (dict | Sequence[dict], optional): Per image, the
            metainfo of the test pipeline's resize (``input_size``,
            ``input_center``, ``input_scale``, ``ori_shape``): boxes and
            keypoints are clipped to the original image
            (:func:`image_bounds`), as the head does; None: to the input.

    Returns:
        dict | list[dict]: One dict per image (a dict for unbatched
        outputs).
    """
    if np.ndim(outputs['num_dets']) == 0:  # one image, no batch dimension
        batched = {k: np.asarray(v)[None] for k, v in outputs.items()}
        one = img_metas if img_metas is None or isinstance(
            img_metas, dict) else img_metas[0]
        return postprocess_onestage(batched, meta,
                                    None if one is None else [one])[0]
    post = meta['postprocess']
    B = len(outputs['num_dets'])
    W, H = meta['input_size']
    if img_metas is None:
        img_metas = [dict(input_size=(W, H))] * B
    if isinstance(img_metas, dict) or len(img_metas) != B:
        raise ValueError(f'img_metas must be one dict per image of the '
                         f'batch of {B}')
    fusion = post.get('fusion') or {}
    results = []
    for b, img_meta in enumerate(img_metas):
        n = int(outputs['num_dets'][b])
        bounds = image_bounds(img_meta)
        boxes = _clip_np(outputs['boxes'][b, :n], bounds)
        scores = outputs['scores'][b, :n]
        kpts = outputs['keypoints'][b, :n]
        kpt_scores = outputs['keypoint_scores'][b, :n]
        if fusion.get('enabled') and n > 0:
            m = int(outputs['num_kpt_objs'][b])
            kb = _clip_np(outputs['kpt_obj_boxes'][b, :m], bounds)
            kpts, fused, src, _ = fuse_keypoint_objects_np(
                kpts, scores, (kb[:, :2] + kb[:, 2:]) / 2,
                outputs['kpt_obj_scores'][b, :m],
                outputs['kpt_obj_labels'][b, :m],
                tol=_fusion_tol(fusion, img_meta, boxes),
                person_score_thr=fusion['person_thr'])
            kpt_scores = np.where(src >= 0, fused, kpt_scores)
        if post.get('clip_keypoints', True):
            kpts = _clip_np(kpts.reshape(n, kpts.shape[1] * 2),
                            bounds).reshape(kpts.shape)
        results.append(
            dict(boxes=boxes, scores=scores, keypoints=kpts,
                 keypoint_scores=kpt_scores))
    return results


def _clip_np(xy: np.ndarray, bounds) -> np.ndarray:
    """:func:`clip_xy` on arrays (the same float32 comparisons)."""
    if bounds is None:
        return xy
    pts = xy.reshape(*xy.shape[:-1], xy.shape[-1] // 2, 2)
    pts = np.stack([np.clip(pts[..., 0], bounds[0], bounds[2]),
                    np.clip(pts[..., 1], bounds[1], bounds[3])], -1)
    return pts.reshape(xy.shape).astype(xy.dtype, copy=False)


def _fusion_tol(fusion: dict, img_meta: dict, boxes: np.ndarray):
    """``KAPAOHead._fusion_tol`` on arrays (float32, as the head's tensor)."""
    tol, mode = float(fusion['tol']), fusion['tol_mode']
    if mode == 'person':
        wh = np.clip(boxes[:, 2:] - boxes[:, :2], 0, None)
        return np.float32(tol) * np.sqrt(wh[:, 0] * wh[:, 1])
    if mode == 'original':
        if 'input_scale' not in img_meta or 'input_size' not in img_meta:
            raise KeyError("fusion tol_mode 'original' needs `input_scale` "
                           'and `input_size` in img_metas.')
        per_px = np.asarray(img_meta['input_scale'], np.float64) / \
            np.asarray(img_meta['input_size'], np.float64)
        tol = tol / float(per_px.mean())
    elif mode != 'input':
        raise ValueError(f'unknown fusion tol_mode {mode!r}')
    return np.asarray([tol], np.float32)


# ------------------------------------------------------------------ export
def onestage_input_size(cfg, input_size: Optional[Sequence[int]] = None
                        ) -> Tuple[int, int]:
    """(W, H) of the graph: ``input_size`` or the test pipeline's."""
    if input_size is None:
        tf = test_pipeline_meta(cfg).get('transform') or {}
        input_size = tf.get('input_size', None)
        if input_size is None:
            raise ValueError('cannot read the input size from the test '
                             'pipeline of the config; pass input_size=(W, H)')
    if isinstance(input_size, int):
        input_size = (input_size, input_size)
    w, h = (int(v) for v in input_size)
    return w, h


def onestage_meta(export_model: OneStageExportModel, cfg,
                  input_size: Tuple[int, int], opset: int,
                  dynamic_batch: bool) -> dict:
    """The export metadata of a one-stage graph (see :mod:`.meta`)."""
    head, c = export_model.model.head, export_model.cfg
    pre = preprocessor_meta(cfg)
    resize = test_pipeline_meta(cfg, input_size)
    fusion = None
    if export_model.is_kapao:
        fusion = dict(
            where='runner', enabled=bool(c['fuse_keypoint_objects']),
            person_thr=float(c['fusion_person_thr']),
            tol=float(c['fusion_tol']), tol_mode=c['fusion_tol_mode'],
            kpt_score_thr=float(c['kpt_score_thr']),
            kpt_nms_thr=float(c['kpt_nms_thr']),
            kpt_max_per_img=int(c['kpt_max_per_img']),
            function='posekit_plugins.models.utils.fuse_keypoint_objects_np')
    try:  # the metainfo itself, for drawing (the top-down export's helper)
        from .topdown import _dataset_meta
        embedded = _dataset_meta(export_model.model, cfg)
    except ImportError:
        embedded = None
    return dict(
        family='onestage',
        architecture=type(head).__name__,
        config=Path(getattr(cfg, 'filename', None) or 'config').name,
        input_size=list(input_size),
        **pre,
        num_keypoints=int(head.num_keypoints),
        **dataset_meta(cfg),
        dataset_meta=embedded,
        flip_test=False,
        test_pipeline=resize,
        score_thr=float(c['score_thr']),
        nms_thr=float(c['nms_thr']),
        nms_pre=int(c['nms_pre']),
        max_per_img=int(c['max_per_img']),
        outputs=list(export_model.output_names),
        coordinates='input pixels, not clipped',
        postprocess=dict(
            function='posekit_plugins.deployment.onestage.'
            'postprocess_onestage',
            clip_boxes=True,
            clip_keypoints=bool(c.get('clip_keypoints', True)),
            fusion=fusion),
        opset=int(opset),
        dynamic_batch=bool(dynamic_batch),
        exporter='torchscript',
        torch_version=torch.__version__)


def export_onestage(model: nn.Module, cfg, out: str,
                    input_size: Optional[Sequence[int]] = None,
                    opset: int = 17, dynamic_batch: bool = False,
                    check_inputs: Optional[Tensor] = None) -> str:
    """Export a one-stage model to ``out`` and check the result.

    Checks (any failure raises and removes ``out``): the opset has every
    operator (NonMaxSuppression etc., opset >= :data:`MIN_NMS_OPSET`); the
    trace raised no ``TracerWarning`` (a Python value taken from a tensor
    would be baked in); ``onnx.checker``; every output depends on the graph
    input; onnxruntime on ``check_inputs`` equals the PyTorch module and
    two different inputs do not give the same non-empty detections.

    Args:
        model (nn.Module): The ``BottomupPoseEstimator`` (eval mode is set).
        cfg (Config): Its config (test pipeline, preprocessor, metainfo).
        out (str): The ``.onnx`` file to write.
        input_size (Sequence[int], optional): (W, H); the config's when
            None.
        opset (int): ONNX opset.
        dynamic_batch (bool): Make the batch dimension dynamic.
        check_inputs (Tensor, optional): (2, 3, H, W) two different
            preprocessed images for the runtime checks; two random ones
            when None.

    Returns:
        str: ``out``.
    """
    from .export import check_exported_graph
    if opset < MIN_NMS_OPSET:
        raise ValueError(
            f'opset {opset} is too old for the one-stage graph: its '
            f'NonMaxSuppression (with ScatterND and a TopK input) needs '
            f'opset >= {MIN_NMS_OPSET}. Fix: --opset {MIN_NMS_OPSET} or '
            'higher (default 17).')
    w, h = onestage_input_size(cfg, input_size)
    export_model = OneStageExportModel(model.eval()).eval()
    if check_inputs is None:
        gen = torch.Generator().manual_seed(0)
        pre = preprocessor_meta(cfg)
        img = torch.rand((2, 3, h, w), generator=gen) * 255
        mean = torch.tensor(pre['mean']).view(1, 3, 1, 1)
        std = torch.tensor(pre['std']).view(1, 3, 1, 1)
        check_inputs = (img - mean) / std
    device = next(model.parameters()).device
    check_inputs = check_inputs.to(device)
    if tuple(check_inputs.shape[1:]) != (3, h, w) or len(check_inputs) < 2:
        raise ValueError(f'check_inputs must be (>=2, 3, {h}, {w}), got '
                         f'{tuple(check_inputs.shape)}')
    names = export_model.output_names
    dynamic_axes = None
    if dynamic_batch:
        dynamic_axes = {n: {0: 'batch'} for n in ('input', ) + names}
    kwargs = {}
    import inspect
    if 'dynamo' in inspect.signature(torch.onnx.export).parameters:
        kwargs['dynamo'] = False  # the TorchScript exporter (torch 2.1 too)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        export_model(check_inputs[:1])  # fixes num_candidates
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always', torch.jit.TracerWarning)
        torch.onnx.export(
            export_model, (check_inputs[:1], ), str(out),
            input_names=['input'], output_names=list(names),
            opset_version=opset, dynamic_axes=dynamic_axes,
            do_constant_folding=True, **kwargs)
    tracer = [f'{w.filename}:{w.lineno}: {w.message}' for w in caught
              if issubclass(w.category, torch.jit.TracerWarning)]
    try:
        if tracer:
            raise RuntimeError(
                'the trace read values from tensors, which the graph would '
                'hold as constants:\n  ' + '\n  '.join(tracer))
        write_export_meta(
            out, onestage_meta(export_model, cfg, (w, h), opset,
                               dynamic_batch))
        check_exported_graph(out, export_model, check_inputs)
    except Exception:
        Path(out).unlink(missing_ok=True)
        raise
    return str(out)
