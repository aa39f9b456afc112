"""KAPAO: keypoints and poses as objects in one YOLOv5-style dense head."""
from typing import Dict, Sequence, Union

import numpy as np
import torch
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor

from ..task_modules import LevelAssignment, decode_kapao_keypoints
from ..utils.kapao_fusion import fuse_keypoint_objects
from .yolo_anchor_head import YOLOAnchorHead

#: KAPAO's inference settings (``val.py``), used for keys ``test_cfg`` lacks
KAPAO_TEST_CFG = dict(
    score_thr=0.001,  # pose objects
    nms_thr=0.65,
    max_per_img=300,
    nms_pre=30000,
    kpt_score_thr=0.2,  # keypoint objects
    kpt_nms_thr=0.25,
    kpt_max_per_img=300,
    fuse_keypoint_objects=True,
    fusion_person_thr=0.3,
    fusion_tol=50.0,
    fusion_tol_mode='input',
    clip_keypoints=True,
)
_TOL_MODES = ('input', 'original', 'person')
#: KAPAO's loss switches per ``loss_mode`` (on top of the base's)
KAPAO_LOSS_PRESETS = dict(
    posekit=dict(cls_gain_nc80=True, clip_keypoint_objects=False),
    faithful=dict(cls_gain_nc80=True, clip_keypoint_objects=True))
#: the original clips its label boxes to ``size - eps`` (``xyxy2xywhn``)
KAPAO_CLIP_EPS = 1e-3


@MODELS.register_module()
class KAPAOHead(YOLOAnchorHead):
    """KAPAO head for mmpose's ``BottomupPoseEstimator``.

    One YOLOv5 anchor head (see :class:`YOLOAnchorHead`: assignment, box,
    objectness, NMS) detecting two kinds of objects, told apart by class:

    - class 0, **pose objects**: one per person, its box, carrying the K
      keypoints as 2K extra channels per anchor, decoded in grid units from
      the cell corner as ``(4 sigmoid(t) - 2) * anchor_wh``;
    - classes ``1..K``, **keypoint objects**: one per labelled keypoint
      (visibility > 0) whose position lies inside the input, a square box of
      side ``kp_bbox * max(H, W)`` of the input centred on the keypoint
      (class ``k + 1`` for keypoint ``k``), carrying no coordinates.

    Targets are built here from ordinary mmpose bottom-up annotations
    (``gt_instance_labels``: ``bboxes``, ``keypoints``,
    ``keypoints_visible``), so the data pipeline is the YOLO-Pose one.

    Losses, per level on YOLOv5's positives of both kinds: box ``1 - CIoU``,
    objectness BCE, class BCE over the 1 + K classes, and ``loss_kpt`` on the
    pose-object positives: by default :class:`KeypointDistanceLoss`, the
    original's mean Euclidean distance over visible keypoints (grid units;
    0 when there is none, where the original skips the term: the same);
    :class:`OKSKeypointLoss` can replace it (the target box area ``w * h`` in
    grid units is passed as the OKS area). Default gains are the code's
    ``hyp.kp-p6``: box 0.05, obj 0.7, cls 0.3, kp 0.025, then YOLOv5's
    rescaling (``3 / nl`` for all, ``(input / 640)^2`` more for obj,
    ``(1 + K) / 80`` more for cls as KAPAO's ``train.py`` does; see
    ``yolov5_loss_scaling``); the total is multiplied by the batch size.

    ``loss_mode='faithful'`` (with ``loss_bbox=dict(type='YOLOv5CIoULoss')``,
    as the paper configs) is the original ``ComputeLoss`` + ``train.py``:
    YOLOv5's CIoU for the box loss and the objectness target, the last
    positive's IoU as objectness target of a cell-anchor taking several
    objects, targets in the original's label order (each person, then its
    keypoint objects), keypoint-object boxes clipped to the input (``[0,
    size - 1e-3]``, as the original's labels) and the total times batch x
    world size. Switches: those of :class:`YOLOAnchorHead` and
    ``clip_keypoint_objects`` (faithful True / posekit False). Not
    emulated: the original's ``(imgsz / 640)^2`` uses the ``--img-size``
    option, here the batch's input size (equal without multi-scale
    training); person boxes are clipped by the original's data loader, here
    by the data pipeline (not by the head).

    Inference (settings read from ``test_cfg``, defaults
    :data:`KAPAO_TEST_CFG` = the code's): each anchor keeps its best class,
    ``score = obj * cls``. Pose objects: score > ``score_thr`` (0.001), NMS
    IoU ``nms_thr`` (0.65), at most ``max_per_img``. Keypoint objects: score
    > ``kpt_score_thr`` (0.2), NMS per class with IoU ``kpt_nms_thr`` (0.25).
    Then :func:`fuse_keypoint_objects` (``fuse_keypoint_objects=False``
    turns it off) with persons above ``fusion_person_thr`` (0.3) and the
    tolerance ``fusion_tol`` read per ``fusion_tol_mode``:

    - ``'input'`` (default): input pixels;
    - ``'original'``: original-image pixels, as the paper's code (50 px),
      converted with the sample's ``input_scale / input_size``;
    - ``'person'``: a fraction of each person's size ``sqrt(w * h)`` of its
      predicted box.

    Keypoint-object centres come from their boxes clipped to the image (as
    the original); poses are fused unclipped and then, with
    ``clip_keypoints`` (default True), clipped to the image. The original
    clips only keypoints 0 and 1, before fusion (its ``clip_coords`` clamps
    columns 0-3 of the pose array, meant for boxes); a difference only for
    those two keypoints when predicted outside the image.

    ``pred_instances``: ``bboxes``, ``bbox_scores`` (= ``scores``, the person
    score COCO ranks by; use ``CocoMetric(score_mode='bbox',
    nms_mode='none')``), ``keypoints``, ``keypoint_scores``. A fused keypoint
    takes its keypoint object's confidence; pose-object keypoints have no
    confidence of their own (the paper's code writes 0, which pycocotools
    ignores), so here they take the person score, which keeps mmpose's
    visualizer (``kpt_thr``) and ``score_mode='bbox_keypoint'`` meaningful.

    Note:
        - batch size: B; keypoints: K; anchors per level: A
        - raw output per level: (B, A, H, W, 5 + (1 + K) + 2K)
        - ``pred_instances``: keypoints (N, K, 2), keypoint_scores (N, K),
          bboxes (N, 4) xyxy, bbox_scores (N,), in input pixels (mmpose's
          ``BottomupPoseEstimator`` maps them to the original image)

        Paper: https://arxiv.org/abs/2111.08557 (original code:
        github.com/wmcnally/kapao)

    Args:
        num_keypoints (int): K.
        in_channels (int | Sequence[int]): Channels of each input level.
        featmap_strides (Sequence[int]): ``(8, 16, 32)`` or
            ``(8, 16, 32, 64)`` (the paper's P6 models).
        kp_bbox (float): Side of a keypoint object's box, as a fraction of
            ``max(H, W)`` of the input.
        loss_kpt (dict): Pose-object keypoint loss config, called as
            ``loss(pred (M, K, 2), target (M, K, 2), visible (M, K),
            areas (M,))`` in grid units.
        **kwargs: See :class:`YOLOAnchorHead` (``anchors``, ``loss_bbox``,
            ``loss_obj``, ``loss_cls``, ``yolov5_loss_scaling``, ...);
            ``num_classes`` is ``1 + num_keypoints`` and need not be given.
    """

    def __init__(self,
                 num_keypoints: int,
                 in_channels: Union[int, Sequence[int]],
                 featmap_strides: Sequence[int] = (8, 16, 32, 64),
                 kp_bbox: float = 0.05,
                 loss_bbox: ConfigType = dict(
                     type='mmdet.CIoULoss', reduction='mean', loss_weight=0.05),
                 loss_obj: ConfigType = dict(
                     type='BCELoss', reduction='mean', loss_weight=0.7),
                 loss_cls: ConfigType = dict(
                     type='BCELoss', reduction='mean', loss_weight=0.3),
                 loss_kpt: ConfigType = dict(
                     type='KeypointDistanceLoss',
                     reduction='mean',
                     loss_weight=0.025),
                 init_cfg: OptConfigType = None,
                 **kwargs) -> None:
        if num_keypoints < 1:
            raise ValueError('num_keypoints must be >= 1')
        nc = kwargs.pop('num_classes', 1 + num_keypoints)
        if nc != 1 + num_keypoints:
            raise ValueError(
                f'KAPAOHead: num_classes must be 1 + num_keypoints = '
                f'{1 + num_keypoints} (pose object + one class per keypoint '
                f'type), got {nc}. Fix: leave num_classes out.')
        if not 0 < kp_bbox <= 1:
            raise ValueError(f'kp_bbox must be in (0, 1], got {kp_bbox}')
        if not loss_cls:
            raise ValueError('KAPAOHead needs loss_cls: the class tells pose '
                             'objects and keypoint objects apart.')
        self.num_keypoints = num_keypoints
        self.num_extra_channels = 2 * num_keypoints
        self.kp_bbox = kp_bbox
        super().__init__(
            in_channels=in_channels,
            num_classes=nc,
            featmap_strides=featmap_strides,
            loss_bbox=loss_bbox,
            loss_obj=loss_obj,
            loss_cls=loss_cls,
            init_cfg=init_cfg,
            **kwargs)
        self.loss_kpt = self._build_loss_kpt(loss_kpt)

    # -------------------------------------------------------------- targets
    @staticmethod
    def _input_wh(data_sample) -> tuple:
        meta = data_sample.metainfo
        if 'input_size' in meta:
            w, h = meta['input_size']
        elif 'img_shape' in meta:
            h, w = meta['img_shape'][:2]
        else:
            raise KeyError(
                'KAPAOHead needs the input size to size keypoint objects: '
                'pack `input_size` (or `img_shape`) into the metainfo.')
        return float(w), float(h)

    def _get_targets_single(self, data_sample, device: torch.device,
                            dtype: torch.dtype) -> Dict[str, Tensor]:
        """Pose objects (label 0) then keypoint objects (label k + 1).

        Returns ``bboxes`` (T, 4) xyxy input pixels, ``labels`` (T,),
        ``keypoints`` (T, K, 2) and ``keypoints_visible`` (T, K) (zeros for
        keypoint objects, which carry no coordinates).
        """
        person = super()._get_targets_single(data_sample, device, dtype)
        n, K = person['bboxes'].shape[0], self.num_keypoints
        img = data_sample.metainfo.get('img_path')
        if n > 0 and bool((person['labels'] != 0).any()):
            raise ValueError(
                f'KAPAOHead: ground-truth label '
                f'{int(person["labels"].max())} in {img}; the dataset must '
                'have one category (person, label 0): classes 1..K are the '
                'keypoint objects the head builds itself.')
        kpts, vis = self._gt_keypoints(data_sample, n, device, dtype)

        w, h = self._input_wh(data_sample)
        xy = kpts.reshape(-1, 2)
        # a keypoint object needs its centre in the input (its cell exists)
        inside = (vis.reshape(-1) > 0) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (
            xy[:, 1] >= 0) & (xy[:, 1] < h)
        flat = inside.nonzero(as_tuple=True)[0]
        centre = xy[flat]
        half = 0.5 * self.kp_bbox * max(w, h)
        kp_boxes = torch.cat([centre - half, centre + half], dim=-1)
        if self.loss_opts['clip_keypoint_objects']:
            # as the original's loader: xyxy2xywhn(clip=True, eps=1e-3)
            kp_boxes = torch.stack([
                kp_boxes[:, 0].clamp(0, w - KAPAO_CLIP_EPS),
                kp_boxes[:, 1].clamp(0, h - KAPAO_CLIP_EPS),
                kp_boxes[:, 2].clamp(0, w - KAPAO_CLIP_EPS),
                kp_boxes[:, 3].clamp(0, h - KAPAO_CLIP_EPS)
            ], -1)
        kp_labels = flat % K + 1
        m = flat.numel()
        out = dict(
            bboxes=torch.cat([person['bboxes'], kp_boxes]),
            labels=torch.cat([torch.zeros_like(person['labels']), kp_labels]),
            keypoints=torch.cat([kpts, kpts.new_zeros((m, K, 2))]),
            keypoints_visible=torch.cat([vis, vis.new_zeros((m, K))]))
        if not self.loss_opts['obj_target_max_iou'] and m > 0:
            # the original's label order (each person, then its keypoint
            # objects), on which "the last positive wins" depends
            key = torch.cat([
                torch.arange(n, device=device) * (K + 1),
                (flat // K) * (K + 1) + 1 + flat % K
            ])
            order = key.argsort(stable=True)
            out = {k: v[order] for k, v in out.items()}
        return out

    # ------------------------------------------------------------- decoding
    def decode_kpt_cell(self, raw_extra: Tensor, anchors: Tensor) -> Tensor:
        """Raw (..., 2K) to keypoints (..., K, 2) in grid units from the cell
        corner; ``anchors`` (..., 2) in grid units."""
        return decode_kapao_keypoints(raw_extra, anchors, self.num_keypoints)

    def decode_extra(self, raw_extra: Tensor, grid: Tensor, stride: int,
                     anchors: Tensor) -> Dict[str, Tensor]:
        kp = self.decode_kpt_cell(raw_extra, anchors[None, :, None, None])
        return dict(keypoints=(kp + grid[None, None, :, :, None]) * stride)

    def decode(self, outputs: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Base decoding plus each anchor's best class and its score."""
        decoded = super().decode(outputs)
        best, label = decoded['cls'].max(-1)
        decoded['best_label'] = label
        decoded['best_score'] = decoded['obj'] * best
        # the base's pose-object pass reads 'cls': only anchors whose best
        # class is the pose object keep a score
        decoded['pose_cls'] = torch.where(label == 0, best,
                                          torch.zeros_like(best))[..., None]
        return decoded

    def _pack_results(self, decoded: Dict[str, Tensor], img_i: int,
                      keep: Tensor) -> Dict[str, Tensor]:
        return dict(keypoints=decoded['keypoints'][img_i][keep])

    def _fusion_tol(self, cfg: dict, img_meta: dict, bboxes: Tensor) -> Tensor:
        tol = float(cfg['fusion_tol'])
        mode = cfg['fusion_tol_mode']
        if mode not in _TOL_MODES:
            raise ValueError(f'fusion_tol_mode must be one of {_TOL_MODES}, '
                             f'got {mode!r}')
        if mode == 'person':
            wh = (bboxes[:, 2:] - bboxes[:, :2]).clamp(min=0)
            return tol * (wh[:, 0] * wh[:, 1]).sqrt()
        if mode == 'original':
            if 'input_scale' not in img_meta or 'input_size' not in img_meta:
                raise KeyError(
                    "fusion_tol_mode='original' needs `input_scale` and "
                    '`input_size` in the sample metainfo.')
            # original-image pixels per input pixel (isotropic letterbox)
            per_px = np.asarray(img_meta['input_scale'], np.float64) / \
                np.asarray(img_meta['input_size'], np.float64)
            tol = tol / float(per_px.mean())
        return bboxes.new_tensor(tol)

    def _predict_single(self, decoded: Dict[str, Tensor], img_i: int,
                        img_meta: dict, cfg: dict) -> InstanceData:
        """Two NMS passes (pose objects, keypoint objects), then fusion."""
        cfg = {**KAPAO_TEST_CFG, **cfg}
        # fuse on the unclipped poses and clip afterwards: the original's
        # clip_coords clamps only pose columns 0-3 (keypoints 0 and 1) before
        # fusion, so keypoints 2..K-1 enter it unclipped
        res = super()._predict_single({
            **decoded, 'cls': decoded['pose_cls']
        }, img_i, img_meta, {**cfg, 'clip_keypoints': False})
        bounds = self.image_bounds(img_meta)
        person_scores = res.scores
        kpt_scores = person_scores[:, None].expand(
            -1, self.num_keypoints).clone()
        if cfg['fuse_keypoint_objects'] and len(res) > 0:
            label = decoded['best_label'][img_i]
            score = decoded['best_score'][img_i]
            score = torch.where(label > 0, score, torch.full_like(score, -1.0))
            bboxes = decoded['bboxes'][img_i]
            keep = self.select_and_nms(bboxes, score, label,
                                       cfg['kpt_score_thr'],
                                       cfg['kpt_nms_thr'], cfg['nms_pre'],
                                       cfg['kpt_max_per_img'])
            # centres of the boxes clipped to the image, as the original
            kb = self.clip_xy(bboxes[keep], bounds)
            fused = fuse_keypoint_objects(
                res.keypoints,
                person_scores,
                (kb[:, :2] + kb[:, 2:]) / 2,
                score[keep],
                label[keep] - 1,
                tol=self._fusion_tol(cfg, img_meta, res.bboxes),
                person_score_thr=cfg['fusion_person_thr'])
            res.keypoints = fused.keypoints
            kpt_scores = torch.where(fused.sources >= 0,
                                     fused.keypoint_scores, kpt_scores)
        if cfg['clip_keypoints']:
            res.keypoints = self.clip_xy(res.keypoints, bounds)
        res.keypoint_scores = kpt_scores
        res.keypoints_visible = kpt_scores
        return res

    # --------------------------------------------------------------- losses
    def loss_presets(self) -> Dict[str, dict]:
        presets = super().loss_presets()
        for mode, opts in KAPAO_LOSS_PRESETS.items():
            presets[mode].update(opts)
        return presets

    extra_loss_names = ('loss_kpt', )

    def _extra_level_losses(self, raw_extra: Tensor,
                            assignment: LevelAssignment,
                            targets: Dict[str, Tensor], level: int,
                            cell_xy: Tensor, pred_box: Tensor,
                            target_box: Tensor) -> Dict[str, Tensor]:
        # only pose objects (label 0) carry keypoints; one index, one sync
        pose = (targets['labels'][assignment.gt_idx] == 0).nonzero(
            as_tuple=True)[0]
        if pose.numel() == 0:
            return {}
        stride = self.featmap_strides[level]
        anchors = self.anchors[level].to(raw_extra)[
            assignment.anchor_idx[pose]] / stride
        pkpt = self.decode_kpt_cell(raw_extra[pose], anchors)
        loss, _ = self._keypoint_loss(pkpt, assignment.gt_idx[pose], targets,
                                      cell_xy[pose], target_box[pose], stride)
        return dict(loss_kpt=loss)
