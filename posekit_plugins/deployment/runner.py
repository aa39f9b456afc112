"""Run an exported pose model with onnxruntime on images, as mmpose would.

The exported graphs hold no preprocessing (:mod:`.export`), so the runner
does what the config's test pipeline and ``data_preprocessor`` do, reading
how from the metadata stored in the ``.onnx`` file
(:func:`~posekit_plugins.deployment.read_export_meta`), and maps the
results back to the original image as mmpose's pose estimators'
``add_pred_to_datasample`` do. Results are mmpose ``PoseDataSample``s, so
mmpose's visualizer and metrics take them as they are.
"""
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .meta import read_export_meta

__all__ = ['ONNXPoseRunner', 'crop_topdown', 'normalize_image']


def normalize_image(img: np.ndarray, mean: Sequence[float],
                    std: Sequence[float], bgr_to_rgb: bool) -> np.ndarray:
    """``PoseDataPreprocessor``'s normalisation of one image, in numpy.

    The same float32 operations as mmengine's ``ImgDataPreprocessor``
    (channel swap, ``float()``, ``(x - mean) / std``).

    Note:
        (h, w, 3) uint8 BGR -> (3, h, w) float32.

    Args:
        img (np.ndarray): The image (BGR, as read by OpenCV).
        mean (Sequence[float]): Per-channel mean (after the channel swap).
        std (Sequence[float]): Per-channel std.
        bgr_to_rgb (bool): Swap BGR to RGB first.

    Returns:
        np.ndarray: The normalised (3, h, w) float32 image.
    """
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f'expected a (h, w, 3) image, got shape {img.shape}')
    chw = img.transpose(2, 0, 1)
    if bgr_to_rgb:
        chw = chw[::-1]
    mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
    return (chw.astype(np.float32) - mean) / std


def crop_topdown(img: np.ndarray, bboxes: np.ndarray,
                 input_size: Tuple[int, int], padding: float = 1.25,
                 use_udp: bool = False
                 ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Person crops as mmpose's top-down test pipeline makes them.

    ``GetBBoxCenterScale`` (box centre, size times ``padding``), then
    ``TopdownAffine``: the box extended to the input's aspect ratio and
    warped with ``cv2.warpAffine`` (bilinear) by mmpose's
    ``get_warp_matrix`` (``get_udp_warp_matrix`` with ``use_udp``).

    Note:
        - instance number: N
        - input size: [w, h]

    Args:
        img (np.ndarray): (H0, W0, 3) image.
        bboxes (np.ndarray): (N, 4) xyxy boxes in the image.
        input_size (tuple): (w, h) of the crops.
        padding (float): ``GetBBoxCenterScale``'s padding.
        use_udp (bool): ``TopdownAffine``'s ``use_udp``.

    Returns:
        tuple:
        - crops (np.ndarray): (N, h, w, 3), the image's dtype.
        - centers (np.ndarray): (N, 2) crop centres in the image.
        - scales (np.ndarray): (N, 2) crop sizes (w, h) in the image.
    """
    from mmpose.datasets.transforms import TopdownAffine
    from mmpose.structures.bbox import (
        bbox_xyxy2cs,
        get_udp_warp_matrix,
        get_warp_matrix,
    )
    w, h = (int(v) for v in input_size)
    centers, scales = bbox_xyxy2cs(bboxes, padding=padding)
    scales = TopdownAffine._fix_aspect_ratio(scales, aspect_ratio=w / h)
    warp = get_udp_warp_matrix if use_udp else get_warp_matrix
    crops = np.empty((len(bboxes), h, w) + img.shape[2:], dtype=img.dtype)
    for i, (c, s) in enumerate(zip(centers, scales)):
        mat = warp(c, s, 0., output_size=(w, h))
        crops[i] = cv2.warpAffine(img, mat, (w, h), flags=cv2.INTER_LINEAR)
    return crops, centers, scales


def _as_bboxes(bboxes: Any, where: str) -> Tuple[np.ndarray, np.ndarray]:
    """(N, 4) xyxy or (N, 5) xyxy + score -> float32 boxes, scores."""
    arr = np.asarray(bboxes, dtype=np.float32)
    if arr.ndim == 1 and arr.size in (4, 5):
        arr = arr[None]
    if arr.size == 0:
        return np.zeros((0, 4), np.float32), np.zeros((0, ), np.float32)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f'{where}: bboxes must be (N, 4) xyxy or (N, 5) '
                         f'xyxy + score, got shape {arr.shape}')
    if not np.isfinite(arr).all():
        raise ValueError(f'{where}: bboxes contain NaN or inf')
    if (arr[:, 2] <= arr[:, 0]).any() or (arr[:, 3] <= arr[:, 1]).any():
        bad = np.flatnonzero((arr[:, 2] <= arr[:, 0])
                             | (arr[:, 3] <= arr[:, 1]))[0]
        raise ValueError(f'{where}: bbox {bad} {arr[bad, :4].tolist()} is '
                         'empty (xyxy with x2 <= x1 or y2 <= y1)')
    scores = arr[:, 4].copy() if arr.shape[1] == 5 else np.ones(
        len(arr), np.float32)
    return np.ascontiguousarray(arr[:, :4]), scores


def _input_to_image(xy: np.ndarray, info: Dict[str, Any]) -> np.ndarray:
    """Points in the network input to the image, as mmpose's
    ``BottomupPoseEstimator.add_pred_to_datasample`` (``input_size``,
    ``input_center``, ``input_scale`` from the resize transform)."""
    size = np.asarray(info['input_size'], np.float64)
    center = np.asarray(info['input_center'], np.float64)
    scale = np.asarray(info['input_scale'], np.float64)
    return xy / size * scale + center - 0.5 * scale


def _check_image(img: Any, where: str) -> np.ndarray:
    if not isinstance(img, np.ndarray):
        raise TypeError(f'{where}: expected a BGR image as a numpy array, '
                        f'got {type(img).__name__}')
    if img.ndim != 3 or img.shape[2] != 3 or img.size == 0:
        raise ValueError(f'{where}: expected a (h, w, 3) BGR image, got '
                         f'shape {img.shape}')
    return img


class ONNXPoseRunner:
    """Pose estimation with an exported ``.onnx`` model and onnxruntime.

    One-stage models (YOLO-Pose, KAPAO): the image is resized as the
    config's test pipeline does (its resize transform, e.g. the YOLOv5
    letterbox, rebuilt from the metadata), normalised and padded as the
    ``data_preprocessor``, run, the ``num_dets`` valid detections kept,
    KAPAO's fusion applied where the metadata says it runs outside the
    graph, and boxes and keypoints mapped back to the image.

    Top-down models: the person boxes are required; each is cropped as
    mmpose's ``GetBBoxCenterScale`` + ``TopdownAffine``, the crops run as
    one batch (one by one for a fixed-batch graph), and the keypoints are
    mapped back from the crops.

    Results are ``PoseDataSample``s whose ``pred_instances`` hold
    ``keypoints`` (N, K, 2), ``keypoint_scores`` (N, K),
    ``keypoints_visible`` (= the scores, as mmpose), ``bboxes`` (N, 4, xyxy)
    and ``bbox_scores`` (N, ), in the original image's pixels.

    Args:
        onnx_path (str): A model written by ``export_onnx`` /
            ``tools/deployment/pytorch2onnx.py``.
        providers (Sequence[str] | str, optional): onnxruntime execution
            providers, e.g. ``['CUDAExecutionProvider',
            'CPUExecutionProvider']``; ``'cuda'`` or ``'cpu'`` for short.
            Defaults to the CPU. An unavailable provider raises.
        num_threads (int, optional): intra-op threads of the session.
            Defaults to the number of CPU cores.
        score_thr (float, optional): Drop persons scoring below it (after
            the graph's own threshold, the config's). Defaults to None.
        max_batch (int): Most crops per run of a dynamic-batch top-down
            model. Defaults to 64.
    """

    def __init__(self,
                 onnx_path: Union[str, os.PathLike],
                 providers: Optional[Union[str, Sequence[str]]] = None,
                 num_threads: Optional[int] = None,
                 score_thr: Optional[float] = None,
                 max_batch: int = 64) -> None:
        import onnxruntime as ort
        self.onnx_path = str(onnx_path)
        self.meta = read_export_meta(self.onnx_path)
        self.family = self.meta['family']
        self.score_thr = score_thr
        self.max_batch = int(max_batch)

        available = ort.get_available_providers()
        if providers is None:
            providers = ['CPUExecutionProvider']
        elif isinstance(providers, str):
            short = {'cpu': ['CPUExecutionProvider'],
                     'cuda': ['CUDAExecutionProvider', 'CPUExecutionProvider'],
                     'tensorrt': ['TensorrtExecutionProvider',
                                  'CUDAExecutionProvider',
                                  'CPUExecutionProvider']}
            providers = short.get(providers.lower(), [providers])
        missing = [p for p in providers if p not in available]
        if missing:
            raise ValueError(
                f'onnxruntime execution provider(s) {missing} not available '
                f'(available: {available}); install onnxruntime-gpu for '
                'CUDA')
        opts = ort.SessionOptions()
        opts.graph_optimization_level = \
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = int(num_threads or os.cpu_count() or 1)
        self.session = ort.InferenceSession(
            self.onnx_path, sess_options=opts, providers=list(providers))
        self.providers = self.session.get_providers()

        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        batch = inp.shape[0]
        self.dynamic_batch = not isinstance(batch, int)
        self.static_batch = None if self.dynamic_batch else int(batch)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.input_size = tuple(int(v) for v in self.meta['input_size'])
        self._dataset_meta = None
        if self.family == 'onestage':
            self._resize = self._build_resize()
        elif self.family != 'topdown':
            raise ValueError(f'{self.onnx_path}: unsupported model family '
                             f'{self.family!r}')

    # ------------------------------------------------------------ metadata
    @property
    def dataset_meta(self) -> dict:
        """The dataset metainfo (skeleton, colours, names) for drawing."""
        if self._dataset_meta is None:
            meta = self.meta.get('dataset_meta')
            if meta:
                meta = dict(meta)
                # JSON turned int keys into strings
                if 'keypoint_id2name' in meta:
                    meta['keypoint_id2name'] = {
                        int(k): v
                        for k, v in meta['keypoint_id2name'].items()
                    }
                for key in ('keypoint_colors', 'skeleton_link_colors',
                            'dataset_keypoint_weights', 'sigmas'):
                    if key in meta:
                        meta[key] = np.asarray(meta[key])
            else:
                from mmpose.datasets.datasets.utils import parse_pose_metainfo
                # a path relative to mmpose's configs is found there
                from_file = (self.meta.get('metainfo_file')
                             or 'configs/_base_/datasets/coco.py')
                meta = parse_pose_metainfo(dict(from_file=from_file))
            self._dataset_meta = meta
        return self._dataset_meta

    def _build_resize(self):
        """The test pipeline's resize transform, rebuilt from the metadata
        (the same mmpose / posekit transform the PyTorch path runs)."""
        from mmpose.registry import TRANSFORMS

        import posekit_plugins  # noqa: F401  (registers YOLOv5Letterbox)
        tp = self.meta.get('test_pipeline') or self.meta.get('resize') or {}
        cfg = tp.get('transform')
        if not cfg:
            raise ValueError(
                f'{self.onnx_path}: the metadata names no resize transform '
                f'of the test pipeline (test_pipeline: {tp!r}); re-export '
                'the model with this version of posekit_plugins')
        cfg = dict(cfg)
        if 'input_size' in cfg:
            cfg['input_size'] = tuple(cfg['input_size'])
        return TRANSFORMS.build(cfg)

    # ------------------------------------------------------------- running
    def __call__(self, img_bgr: np.ndarray,
                 bboxes: Optional[np.ndarray] = None):
        """Poses on one image.

        Args:
            img_bgr (np.ndarray): (H, W, 3) uint8 BGR image (``cv2.imread``).
            bboxes (np.ndarray, optional): Person boxes (N, 4) xyxy or
                (N, 5) with scores, in the image; required by top-down
                models, not accepted by one-stage ones.

        Returns:
            PoseDataSample: ``pred_instances`` in the image's pixels.
        """
        return self.predict_batch([img_bgr],
                                  None if bboxes is None else [bboxes])[0]

    def predict_batch(self, imgs: Sequence[np.ndarray],
                      bboxes: Optional[Sequence[np.ndarray]] = None) -> List:
        """Poses on several images (one batch where the graph allows).

        Args:
            imgs (Sequence[np.ndarray]): BGR images.
            bboxes (Sequence[np.ndarray], optional): Per image, its person
                boxes (top-down models only).

        Returns:
            List[PoseDataSample]: One per image.
        """
        imgs = [_check_image(img, f'image {i}') for i, img in enumerate(imgs)]
        if self.family == 'topdown':
            if bboxes is None:
                raise ValueError(
                    f'{self.onnx_path} is a top-down model: it needs person '
                    'boxes (bboxes=(N, 4) xyxy per image, e.g. from a '
                    'person detector or --bboxes JSON)')
            if len(bboxes) != len(imgs):
                raise ValueError(f'{len(imgs)} images but {len(bboxes)} box '
                                 'arrays')
            return self._predict_topdown(imgs, bboxes)
        if bboxes is not None and any(b is not None for b in bboxes):
            raise ValueError(f'{self.onnx_path} is a one-stage model: it '
                             'finds the persons itself and takes no bboxes')
        return self._predict_onestage(imgs)

    def _run(self, batch: np.ndarray) -> List[np.ndarray]:
        """The session on a batch, split to the graph's fixed batch size."""
        if self.dynamic_batch:
            step = max(1, self.max_batch)
        else:
            step = self.static_batch
        if len(batch) <= step and (self.dynamic_batch or len(batch) == step):
            return self.session.run(None, {self.input_name: batch})
        parts = []
        for i in range(0, len(batch), step):
            chunk = batch[i:i + step]
            n = len(chunk)
            if not self.dynamic_batch and n < step:  # fill a fixed batch
                chunk = np.concatenate(
                    [chunk, np.repeat(chunk[-1:], step - n, axis=0)])
            parts.append([o[:n] for o in self.session.run(
                None, {self.input_name: chunk})])
        return [np.concatenate(p) for p in zip(*parts)]

    def _predict_topdown(self, imgs, bboxes) -> List:
        td = self.meta.get('topdown', {})
        padding = float(td.get('bbox_padding', 1.25))
        use_udp = bool(td.get('use_udp', False))
        mean, std = self.meta['mean'], self.meta['std']
        bgr_to_rgb = bool(self.meta['bgr_to_rgb'])
        w, h = self.input_size
        per_image = []
        inputs = []
        for i, (img, b) in enumerate(zip(imgs, bboxes)):
            boxes, box_scores = _as_bboxes(b, f'image {i}')
            crops, centers, scales = crop_topdown(img, boxes, (w, h),
                                                  padding, use_udp)
            inputs.extend(
                normalize_image(c, mean, std, bgr_to_rgb) for c in crops)
            per_image.append((img, boxes, box_scores, centers, scales))
        K = int(self.meta['num_keypoints'])
        if inputs:
            outs = dict(zip(self.output_names, self._run(np.stack(inputs))))
            all_kpts = outs['keypoints']
            all_scores = outs['keypoint_scores']
        else:
            all_kpts = np.zeros((0, K, 2), np.float32)
            all_scores = np.zeros((0, K), np.float32)
        results, start = [], 0
        for img, boxes, box_scores, centers, scales in per_image:
            n = len(boxes)
            kpts = all_kpts[start:start + n]
            # mmpose's TopdownPoseEstimator.add_pred_to_datasample
            kpts = kpts / np.array((w, h)) * scales[:, None] \
                + centers[:, None] - 0.5 * scales[:, None]
            results.append(
                self._data_sample(img, kpts.astype(np.float32),
                                  all_scores[start:start + n], boxes,
                                  box_scores))
            start += n
        return results

    def _predict_onestage(self, imgs) -> List:
        from .onestage import postprocess_onestage
        pre = [self._preprocess_onestage(img) for img in imgs]
        outs = dict(zip(self.output_names,
                        self._run(np.stack([x for x, _ in pre]))))
        # clipping to each image and KAPAO's fusion, as the head's predict
        dets = postprocess_onestage(outs, self.meta, [m for _, m in pre])
        results = []
        for img, (_, info), det in zip(imgs, pre, dets):
            boxes = det['boxes'] if 'boxes' in det else det['bboxes']
            scores = det['scores'] if 'scores' in det else det['bbox_scores']
            boxes = _input_to_image(boxes.reshape(-1, 2, 2),
                                    info).reshape(-1, 4)
            results.append(
                self._data_sample(img, _input_to_image(det['keypoints'], info),
                                  det['keypoint_scores'], boxes, scores))
        return results

    def _preprocess_onestage(self, img: np.ndarray
                             ) -> Tuple[np.ndarray, Dict[str, Any]]:
        """Resize as the test pipeline, normalise and pad as the
        ``data_preprocessor`` (bottom / right, to the graph's input)."""
        h0, w0 = img.shape[:2]
        res = self._resize(dict(img=img, img_shape=(h0, w0),
                                ori_shape=(h0, w0)))
        res['ori_shape'] = (h0, w0)
        x = normalize_image(res['img'], self.meta['mean'], self.meta['std'],
                            bool(self.meta['bgr_to_rgb']))
        W, H = self.input_size
        _, h, w = x.shape
        if h > H or w > W:
            raise ValueError(f'the resized image is {w}x{h}, larger than '
                             f'the graph input {W}x{H}')
        if (h, w) != (H, W):
            pad = float(self.meta.get('pad_value', 0.0))
            x = np.pad(x, ((0, 0), (0, H - h), (0, W - w)),
                       constant_values=pad)
        return np.ascontiguousarray(x), res

    def _data_sample(self, img, keypoints, keypoint_scores, bboxes,
                     bbox_scores):
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        keep = slice(None)
        if self.score_thr is not None:
            keep = np.asarray(bbox_scores) >= self.score_thr
        inst = InstanceData()
        inst.keypoints = np.asarray(keypoints, np.float32)[keep]
        inst.keypoint_scores = np.asarray(keypoint_scores, np.float32)[keep]
        inst.keypoints_visible = inst.keypoint_scores
        inst.bboxes = np.asarray(bboxes, np.float32).reshape(-1, 4)[keep]
        inst.bbox_scores = np.asarray(bbox_scores, np.float32)[keep]
        sample = PoseDataSample(metainfo=dict(ori_shape=img.shape[:2],
                                              img_shape=img.shape[:2]))
        sample.pred_instances = inst
        return sample
