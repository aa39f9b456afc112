"""A YOLOv5-style dense anchor head: the base of YOLO-Pose and KAPAO heads."""
import copy
import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmdet.structures.bbox import bbox_cxcywh_to_xyxy, bbox_xyxy_to_cxcywh
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.utils.typing import (
    ConfigType,
    Features,
    OptConfigType,
    OptSampleList,
    Predictions,
)
from torch import Tensor

from ..task_modules import (
    LevelAssignment,
    YOLOv5Assigner,
    clip_xy,
    decode_anchor_outputs,
    decode_box_cell,
    image_bounds,
    select_and_nms,
)

#: YOLOv5 anchors (w, h) in input pixels, for strides (8, 16, 32)
YOLOV5_ANCHORS_P5 = (((10, 13), (16, 30), (33, 23)),
                     ((30, 61), (62, 45), (59, 119)),
                     ((116, 90), (156, 198), (373, 326)))
#: YOLOv5 "6" models' anchors, for strides (8, 16, 32, 64)
YOLOV5_ANCHORS_P6 = (((19, 27), (44, 40), (38, 94)),
                     ((96, 68), (86, 152), (180, 137)),
                     ((140, 301), (303, 264), (238, 542)),
                     ((436, 615), (739, 380), (925, 792)))
#: YOLOv5's objectness balance between levels (P3 first), by level count
YOLOV5_OBJ_LEVEL_WEIGHTS = {
    3: (4.0, 1.0, 0.4),
    4: (4.0, 1.0, 0.25, 0.06),
    5: (4.0, 1.0, 0.25, 0.06, 0.02),
}
#: the loss switches of :class:`YOLOAnchorHead` per ``loss_mode`` (see its
#: docstring and docs/onestage_training.md); subclasses add theirs
ANCHOR_HEAD_LOSS_PRESETS = dict(
    posekit=dict(
        world_size_scaling=False,
        obj_target_max_iou=True,
        train_single_class=True,
        cls_gain_nc80=False,
        label_smoothing=0.0),
    faithful=dict(
        world_size_scaling=True,
        obj_target_max_iou=False,
        train_single_class=False,
        cls_gain_nc80=True,
        label_smoothing=0.0))


class YOLOAnchorHead(BaseModule):
    """Shared base of YOLOv5-style dense anchor heads (YOLO-Pose, KAPAO).

    Each level ``l`` (stride ``s_l``) has ``A`` anchors (3 in YOLOv5) and
    predicts, per anchor and cell, ``C = 5 + num_classes + E`` raw channels:
    ``(tx, ty, tw, th, obj, cls_1..cls_nc, extra_1..extra_E)``. The base owns
    everything but the ``E`` extra channels:

    - **Assignment** (YOLOv5 ``build_targets``): a ground-truth box goes to
      anchor ``a`` of level ``l`` when ``max(r, 1/r) < anchor_ratio_thr``
      for both ``r = (w, h)_gt / anchor_a`` (grid units), to its own cell
      and to the (up to 2) neighbouring cells whose centre lies within half
      a cell of the box centre (not at the map border).
    - **Box decoding**, grid units, relative to the cell corner:
      ``xy = 2 sigmoid(t) - 0.5``, ``wh = (2 sigmoid(t))^2 * anchor``.
    - **Losses**: box ``loss_bbox(pred_xyxy, gt_xyxy)`` (CIoU, mean over
      the positives of a level); objectness BCE over every anchor of a level
      against the detached CIoU clamped at 0 (the CIoU of ``loss_bbox`` when
      it has a ``ciou`` method, e.g. :class:`YOLOv5CIoULoss`, else mmdet's),
      weighted by the level balance; class BCE over the positives. YOLOv5's
      ``train.py`` gain rescaling (``3 / nl``, ``(input / 640)^2`` more for
      objectness, ``nc / 80`` more for classes) and the multiplication of
      the total by the batch size (and the world size) are applied on top of
      each loss's ``loss_weight``, which is the hyp file's gain
      (``yolov5_loss_scaling``).
    - **Loss mode**: ``loss_mode='faithful'`` computes each term, gain and
      reduction as the original ``ComputeLoss`` + ``train.py``;
      ``'posekit'`` (the constructor default) is this package's earlier
      behaviour, kept for the tiny configs' measured results. A mode is a
      preset of switches, each of which ``loss_options`` can override:

      - ``world_size_scaling`` (faithful True / posekit False): multiply
        the total by ``mmengine.dist.get_world_size()`` too, as the
        originals' ``loss *= world_size`` (DDP averages the gradients).
        The paper configs turn it off because their ``YOLOv5OptimWrapper``
        (``loss_scale_by_world_size``) applies it: only one of them may.
      - ``obj_target_max_iou`` (False / True): a cell-anchor assigned
        several objects gets the largest IoU as objectness target; False is
        the original's ``tobj[b, a, gj, gi] = iou``, where the last positive
        (YOLOv5's order: offset, anchor, target) wins, made deterministic
        (the original's CUDA index_put is not).
      - ``train_single_class`` (False / True): with one class, train the
        class score (target 1) so that ``score = obj * cls`` stays
        meaningful; the originals skip the class loss (``if self.nc > 1``).
      - ``cls_gain_nc80`` (True / False; KAPAO True in both): the class gain
        is also scaled by ``nc / 80``.
      - ``label_smoothing`` (0 / 0): class targets ``1 - eps / 2`` and
        ``eps / 2`` (the originals' ``smooth_BCE``; their default is 0).
    - **Inference**: ``score = obj * cls`` above ``score_thr``, class-aware
      NMS with torchvision's ``batched_nms``, at most ``max_per_img``.

    A subclass defines the extra channels: set ``num_extra_channels`` (E per
    anchor) before ``super().__init__``, name its losses in
    :attr:`extra_loss_names`, and override
    :meth:`_get_targets_single` (ground-truth payload), :meth:`decode_extra`
    (inference decoding), :meth:`_extra_level_losses` (training) and
    :meth:`_pack_results` (what goes into ``pred_instances``); KAPAO also
    overrides :meth:`_predict_single` for its two NMS passes and fusion.

    Note:
        - batch size: B; anchors per level: A; feature map: H, W
        - raw output of a level: (B, A, H, W, C), C = 5 + num_classes + E
        - decoded boxes: (B, N, 4) xyxy in input pixels, N = sum A * H * W

        YOLOv5: https://github.com/ultralytics/yolov5 ; YOLO-Pose:
        https://arxiv.org/abs/2204.06806 ; KAPAO: https://arxiv.org/abs/2111.08557

    Args:
        in_channels (int | Sequence[int]): Channels of each input level.
        num_classes (int): Number of object classes.
        featmap_strides (Sequence[int]): Strides of the levels, e.g.
            ``(8, 16, 32)`` (P3-P5) or ``(8, 16, 32, 64)`` (P3-P6).
        anchors (Sequence, optional): Per level, the (w, h) of each anchor in
            input pixels. Defaults to YOLOv5's P5 or P6 anchors, chosen by the
            number of levels.
        anchor_ratio_thr (float): YOLOv5's ``anchor_t``.
        neighbour_thr (float): Cell-offset threshold ``g`` of the neighbour
            cells (0 disables the neighbours).
        obj_level_weights (Sequence[float], optional): Objectness balance per
            level; defaults to YOLOv5's for the number of levels.
        obj_iou_ratio (float): YOLOv5's ``gr``: objectness target
            ``(1 - gr) + gr * iou``.
        extra_stacked_convs (int): Depthwise 3x3 convs (BN, SiLU) of the
            extra branch before its 1x1 output conv, with a 1x1 conv (BN,
            SiLU) between each two (0: a plain 1x1 conv like the box). 6 is
            YOLO-Pose's ``dw_conv_kpt`` branch (11 conv layers, then the
            output conv, in the original's order).
        layout (str): How the channels of the box and extra convs are split
            between anchors. ``'per_anchor'``: each conv's output is viewed
            as (A, channels of one anchor) and the two are concatenated per
            anchor. ``'original'``: YOLO-Pose's released models: the two
            outputs are concatenated along channels first and the result
            viewed as (A, C), so anchor 0 takes its box, objectness and
            classes from the box conv and the first extra channels from
            the rest of the box conv, while anchors 1..A-1 take everything
            from the extra branch. Those weights were trained that way, so
            a faithful model must compute the same thing; train from
            scratch with ``'per_anchor'``.
        loss_bbox, loss_obj, loss_cls (dict): Loss configs; ``loss_cls`` may
            be None.
        yolov5_loss_scaling (bool): Apply YOLOv5's gain rescaling and the
            batch-size factor described above.
        loss_mode (str): ``'posekit'`` or ``'faithful'``, the preset of the
            loss switches above.
        loss_options (dict, optional): Switches overriding the preset.
        ref_input_size (int): Input size of the ``(input / ref)^2``
            objectness rescaling.
        obj_prior_per_image (float): Expected objects per 640 x 640 image, for
            YOLOv5's objectness bias initialisation.
        init_cfg (dict, optional): Initialisation config.
    """

    #: E, channels per anchor after box, objectness and classes
    num_extra_channels: int = 0

    @property
    def extra_loss_names(self) -> Tuple[str, ...]:
        """The keys :meth:`_extra_level_losses` returns (zero, and still
        logged, when no level has a positive)."""
        return ()

    def __init__(self,
                 in_channels: Union[int, Sequence[int]],
                 num_classes: int = 1,
                 featmap_strides: Sequence[int] = (8, 16, 32, 64),
                 anchors: Optional[Sequence[Sequence[Sequence[float]]]] = None,
                 anchor_ratio_thr: float = 4.0,
                 neighbour_thr: float = 0.5,
                 obj_level_weights: Optional[Sequence[float]] = None,
                 obj_iou_ratio: float = 1.0,
                 extra_stacked_convs: int = 0,
                 layout: str = 'per_anchor',
                 loss_bbox: ConfigType = dict(
                     type='mmdet.CIoULoss', reduction='mean', loss_weight=0.05),
                 loss_obj: ConfigType = dict(
                     type='BCELoss', reduction='mean', loss_weight=1.0),
                 loss_cls: OptConfigType = dict(
                     type='BCELoss', reduction='mean', loss_weight=0.5),
                 yolov5_loss_scaling: bool = True,
                 ref_input_size: int = 640,
                 obj_prior_per_image: float = 8.0,
                 loss_mode: str = 'posekit',
                 loss_options: Optional[dict] = None,
                 init_cfg: OptConfigType = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.loss_mode, self.loss_opts = self._resolve_loss_options(
            loss_mode, loss_options)
        self.featmap_strides = tuple(int(s) for s in featmap_strides)
        nl = len(self.featmap_strides)
        if isinstance(in_channels, int):
            in_channels = [in_channels] * nl
        if len(in_channels) != nl:
            raise ValueError(f'{type(self).__name__}: {len(in_channels)} '
                             f'in_channels for {nl} featmap_strides')
        self.in_channels = list(in_channels)
        if num_classes < 1:
            raise ValueError('num_classes must be >= 1')
        self.num_classes = num_classes

        if anchors is None:
            defaults = {(8, 16, 32): YOLOV5_ANCHORS_P5,
                        (8, 16, 32, 64): YOLOV5_ANCHORS_P6}
            if self.featmap_strides not in defaults:
                raise ValueError(
                    f'{type(self).__name__}: no default anchors for strides '
                    f'{self.featmap_strides}; give `anchors`.')
            anchors = defaults[self.featmap_strides]
        anchors_t = torch.as_tensor(anchors, dtype=torch.float32)
        if anchors_t.ndim != 3 or anchors_t.shape[0] != nl or \
                anchors_t.shape[2] != 2 or not bool((anchors_t > 0).all()):
            raise ValueError(
                f'{type(self).__name__}: anchors must be {nl} levels x A x '
                f'(w, h) > 0, got shape {tuple(anchors_t.shape)}')
        # (nl, A, 2), input pixels
        self.register_buffer('anchors', anchors_t, persistent=False)
        self.num_anchors = anchors_t.shape[1]

        if obj_level_weights is None:
            obj_level_weights = YOLOV5_OBJ_LEVEL_WEIGHTS.get(
                nl, (4.0, 1.0) + (0.25, ) * max(nl - 2, 0))
        if len(obj_level_weights) != nl:
            raise ValueError('obj_level_weights needs one weight per level')
        self.obj_level_weights = tuple(float(w) for w in obj_level_weights)
        self.assigner = YOLOv5Assigner(anchor_ratio_thr, neighbour_thr)
        self.obj_iou_ratio = obj_iou_ratio
        self.yolov5_loss_scaling = yolov5_loss_scaling
        self.ref_input_size = ref_input_size
        self.obj_prior_per_image = obj_prior_per_image
        self.extra_stacked_convs = extra_stacked_convs
        if layout not in ('per_anchor', 'original'):
            raise ValueError(f"layout must be 'per_anchor' or 'original', got "
                             f'{layout!r}')
        self.layout = layout

        self.loss_bbox = MODELS.build(loss_bbox)
        self.loss_obj = MODELS.build(loss_obj)
        self.loss_cls = MODELS.build(loss_cls) if loss_cls else None
        if loss_mode == 'faithful' and not hasattr(self.loss_bbox, 'ciou'):
            print_log(
                f'{type(self).__name__}: loss_mode="faithful" with '
                f'{type(self.loss_bbox).__name__}: the box loss and the '
                "objectness target are not YOLOv5's CIoU; use "
                "loss_bbox=dict(type='YOLOv5CIoULoss', ...).",
                logger='current', level=30)
        self._init_layers()

    def loss_presets(self) -> Dict[str, dict]:
        """The switches of each ``loss_mode`` (subclasses add theirs)."""
        return copy.deepcopy(ANCHOR_HEAD_LOSS_PRESETS)

    def _resolve_loss_options(self, mode: str,
                              options: Optional[dict]) -> Tuple[str, dict]:
        presets = self.loss_presets()
        if mode not in presets:
            raise ValueError(f'{type(self).__name__}: loss_mode must be one '
                             f'of {sorted(presets)}, got {mode!r}')
        opts = dict(presets[mode])
        unknown = set(options or {}) - set(opts)
        if unknown:
            raise ValueError(
                f'{type(self).__name__}: unknown loss_options '
                f'{sorted(unknown)}; known: {sorted(opts)}')
        opts.update(options or {})
        return mode, opts

    # ------------------------------------------------------------------ layers
    @property
    def num_det_channels(self) -> int:
        """Box (4) + objectness (1) + classes per anchor."""
        return 5 + self.num_classes

    @property
    def num_out_channels(self) -> int:
        """C, all raw channels per anchor."""
        return self.num_det_channels + self.num_extra_channels

    def _init_layers(self) -> None:
        A = self.num_anchors
        self.det_convs = nn.ModuleList(
            nn.Conv2d(c, A * self.num_det_channels, 1)
            for c in self.in_channels)
        self.extra_convs = nn.ModuleList(
            self._build_extra_branch(c) for c in self.in_channels
        ) if self.num_extra_channels > 0 else None

    def _build_extra_branch(self, in_channels: int) -> nn.Module:
        """The branch predicting the E extra channels of every anchor:
        ``extra_stacked_convs`` depthwise 3x3 convs with a pointwise conv
        between each two, then the 1x1 output conv."""
        cfg = dict(norm_cfg=dict(type='BN', momentum=0.03, eps=0.001),
                   act_cfg=dict(type='SiLU'))
        layers: List[nn.Module] = []
        for i in range(self.extra_stacked_convs):
            if i > 0:
                layers.append(ConvModule(in_channels, in_channels, 1, **cfg))
            layers.append(
                ConvModule(in_channels, in_channels, 3, padding=1,
                           groups=in_channels, **cfg))
        layers.append(
            nn.Conv2d(in_channels, self.num_anchors * self.num_extra_channels,
                      1))
        return nn.Sequential(*layers)

    def init_weights(self) -> None:
        """YOLOv5's bias priors: objectness for ``obj_prior_per_image``
        objects per 640 x 640 image, class probability 0.6."""
        super().init_weights()
        A, nc = self.num_anchors, self.num_classes
        for conv, stride in zip(self.det_convs, self.featmap_strides):
            with torch.no_grad():
                b = conv.bias.view(A, -1)
                b[:, 4] += math.log(self.obj_prior_per_image /
                                    (640 / stride)**2)
                b[:, 5:5 + nc] += math.log(0.6 / max(nc - 0.99, 1e-2))

    def forward(self, feats: Features) -> Tuple[Tensor, ...]:
        """Raw outputs, one (B, A, H, W, C) tensor per level."""
        if len(feats) != len(self.featmap_strides):
            raise ValueError(
                f'{type(self).__name__}: got {len(feats)} feature levels, '
                f'configured for strides {self.featmap_strides}. Fix: match '
                'the neck outputs (backbone out_indices) and featmap_strides.')
        outs = []
        A = self.num_anchors
        for i, x in enumerate(feats):
            B, _, H, W = x.shape
            y = self.det_convs[i](x)
            if self.extra_convs is None:
                y = y.view(B, A, -1, H, W)
            elif self.layout == 'original':
                y = torch.cat([y, self.extra_convs[i](x)], dim=1).view(
                    B, A, -1, H, W)
            else:
                y = torch.cat([
                    y.view(B, A, -1, H, W),
                    self.extra_convs[i](x).view(B, A, -1, H, W)
                ], dim=2)
            outs.append(y.permute(0, 1, 3, 4, 2).contiguous())
        return tuple(outs)

    # -------------------------------------------------------------- targets
    def _gt_keypoints(self, data_sample, n: int, device: torch.device,
                      dtype: torch.dtype) -> Tuple[Tensor, Tensor]:
        """Keypoints (n, K, 2) and 0/1 visibility (n, K) of one image's
        ``n`` ground-truth persons, checked against ``num_keypoints``.

        Invisible keypoints may carry anything (they are zeroed); visible
        ones must be finite.
        """
        K, name = self.num_keypoints, type(self).__name__
        img = data_sample.metainfo.get('img_path')
        if n == 0:
            return (torch.zeros((0, K, 2), dtype=dtype, device=device),
                    torch.zeros((0, K), dtype=dtype, device=device))
        gt = data_sample.gt_instance_labels
        kpts = torch.as_tensor(gt.keypoints, dtype=dtype, device=device)
        vis = torch.as_tensor(gt.keypoints_visible, dtype=dtype, device=device)
        if vis.ndim == 3:  # (n, K, 2): visibility and its weight
            vis = vis[..., 0]
        if kpts.shape != (n, K, 2) or vis.shape != (n, K):
            raise ValueError(
                f'{name}: expected keypoints ({n}, {K}, 2) and '
                f'keypoints_visible ({n}, {K}) for {n} boxes, got '
                f'{tuple(kpts.shape)} and {tuple(vis.shape)} ({img}). '
                'Fix: num_keypoints must match the dataset metainfo.')
        vis = (vis > 0).to(dtype)
        kpts = torch.where(vis[..., None] > 0, kpts, torch.zeros_like(kpts))
        if not bool(torch.isfinite(kpts).all()):
            raise ValueError(f'{name}: non-finite visible keypoint in {img}')
        return kpts, vis

    def _build_loss_kpt(self, cfg: ConfigType) -> nn.Module:
        """A keypoint loss whose sigmas, if it has any, match the head's K."""
        loss = MODELS.build(cfg)
        sigmas = getattr(loss, 'sigmas', None)
        if sigmas is not None and sigmas.numel() != self.num_keypoints:
            raise ValueError(
                f'{type(self).__name__}: num_keypoints={self.num_keypoints} '
                f'but loss_kpt has {sigmas.numel()} sigmas. Fix: give '
                'loss_kpt the metainfo of the dataset (its sigmas).')
        return loss

    def _keypoint_loss(self, pkpt: Tensor, gt_idx: Tensor,
                       targets: Dict[str, Tensor], cell_xy: Tensor,
                       target_box: Tensor, stride: int) -> Tuple[Tensor, Tensor]:
        """``loss_kpt`` of (M, K, 2) keypoints predicted in grid units from
        the cell corner, against the ground truth ``gt_idx`` (M,); also
        returns the (M, K) visibility targets. The OKS area is the target
        box's, in grid units."""
        tkpt = targets['keypoints'][gt_idx] / stride - cell_xy[:, None]
        vis = targets['keypoints_visible'][gt_idx]
        area = target_box[:, 2] * target_box[:, 3]
        return self.loss_kpt(pkpt, tkpt, vis, area), vis

    def _get_targets_single(self, data_sample, device: torch.device,
                            dtype: torch.dtype) -> Dict[str, Tensor]:
        """Ground-truth objects of one image, in input pixels.

        Returns a dict of tensors sharing the first dimension T: at least
        ``bboxes`` (T, 4) xyxy and ``labels`` (T,) long. Subclasses add their
        payload (e.g. keypoints).
        """
        gt = data_sample.gt_instance_labels
        if 'bboxes' in gt and len(gt) > 0:
            bboxes = torch.as_tensor(gt.bboxes, dtype=dtype,
                                     device=device).reshape(-1, 4)
        else:
            bboxes = torch.zeros((0, 4), dtype=dtype, device=device)
        if 'labels' in gt and len(gt) > 0:
            labels = torch.as_tensor(gt.labels, device=device).long().reshape(-1)
        else:
            labels = torch.zeros((bboxes.shape[0], ), dtype=torch.long,
                                 device=device)
        if labels.numel() != bboxes.shape[0]:
            raise ValueError(f'{bboxes.shape[0]} boxes but {labels.numel()} '
                             'labels in gt_instance_labels')
        return dict(bboxes=bboxes, labels=labels)

    def get_targets(self, batch_data_samples: Sequence, device: torch.device,
                    dtype: torch.dtype) -> Dict[str, Tensor]:
        """Concatenate the ground truth of a batch and add ``img_idx``."""
        per_img = [
            self._get_targets_single(ds, device, dtype)
            for ds in batch_data_samples
        ]
        out = {
            k: torch.cat([t[k] for t in per_img], dim=0)
            for k in per_img[0]
        }
        out['img_idx'] = torch.cat([
            torch.full((t['bboxes'].shape[0], ), i, dtype=torch.long,
                       device=device) for i, t in enumerate(per_img)
        ])
        bad = ~torch.isfinite(out['bboxes']).all(-1)
        if bool(bad.any()):
            img = int(out['img_idx'][bad][0])
            raise ValueError(
                f'{type(self).__name__}: non-finite ground-truth box in batch '
                f'image {img} '
                f'({batch_data_samples[img].metainfo.get("img_path")}).')
        bad = (out['labels'] < 0) | (out['labels'] >= self.num_classes)
        if bool(bad.any()):
            raise ValueError(
                f'{type(self).__name__}: label {int(out["labels"][bad][0])} '
                f'outside [0, {self.num_classes}); check num_classes and the '
                'category ids of the annotations.')
        return out

    def assign(self, bboxes: Tensor, img_idx: Tensor,
               featmap_sizes: Sequence[Tuple[int, int]]
               ) -> List[LevelAssignment]:
        """YOLOv5's positives of each level (see :class:`YOLOv5Assigner`)
        for (T, 4) xyxy boxes in input pixels and their (T,) image index."""
        return self.assigner.assign(bboxes, img_idx, featmap_sizes,
                                    self.featmap_strides, self.anchors)

    # ------------------------------------------------------------ decoding
    def decode_extra(self, raw_extra: Tensor, grid: Tensor, stride: int,
                     anchors: Tensor) -> Dict[str, Tensor]:
        """Decode the extra channels of a level for inference.

        Args:
            raw_extra (Tensor): (B, A, H, W, E).
            grid (Tensor): (H, W, 2) cell corners, grid units.
            stride (int): Stride of the level.
            anchors (Tensor): (A, 2) anchors of the level, grid units.

        Returns:
            dict: name -> (B, A, H, W, ...) decoded tensors in input pixels.
        """
        return {}

    def decode(self, outputs: Sequence[Tensor]) -> Dict[str, Tensor]:
        """Decode raw outputs of all levels, flattened to (B, N, ...).

        Returns ``bboxes`` (B, N, 4) xyxy input pixels, ``obj`` (B, N),
        ``cls`` (B, N, nc) probabilities and the subclass' extras from
        :meth:`decode_extra` (:func:`decode_anchor_outputs`: tensor
        operations only, shared with the ONNX export).
        """
        return decode_anchor_outputs(outputs, self.featmap_strides,
                                     self.anchors, self.num_classes,
                                     self.decode_extra)

    # --------------------------------------------------------------- losses
    def _extra_level_losses(self, raw_extra: Tensor,
                            assignment: LevelAssignment,
                            targets: Dict[str, Tensor], level: int,
                            cell_xy: Tensor, pred_box: Tensor,
                            target_box: Tensor) -> Dict[str, Tensor]:
        """Losses of the extra channels at the positives of one level.

        Args:
            raw_extra (Tensor): (M, E) raw extra channels of the positives.
            assignment (LevelAssignment): The positives.
            targets (dict): Batch targets from :meth:`get_targets`.
            level (int): Level index.
            cell_xy (Tensor): (M, 2) cell corners (grid units).
            pred_box, target_box (Tensor): (M, 4) xywh grid units relative
                to the cell corner.

        Returns:
            dict: loss name -> scalar (before the YOLOv5 rescaling).
        """
        return {}

    def term_gain(self, name: str, input_size: int) -> float:
        """``train.py``'s rescaling of a term's hyp gain (``loss_weight``):
        ``3 / nl``, times ``(input / ref_input_size)^2`` for objectness and
        ``nc / 80`` for classes (``cls_gain_nc80``)."""
        gain = 3.0 / len(self.featmap_strides)
        if name == 'loss_obj':
            gain *= (input_size / self.ref_input_size)**2
        elif name == 'loss_cls' and self.loss_opts['cls_gain_nc80']:
            gain *= self.num_classes / 80.0
        return gain

    def loss_scale(self, name: str, input_size: int, batch_size: int) -> float:
        """YOLOv5's factor on top of a loss' ``loss_weight``:
        :meth:`term_gain` times the batch size (times the world size with
        ``world_size_scaling``)."""
        if not self.yolov5_loss_scaling:
            return 1.0
        scale = self.term_gain(name, input_size) * batch_size
        if self.loss_opts['world_size_scaling']:
            scale *= get_world_size()
        return scale

    def _set_obj_target(self, obj_target: Tensor, flat: Tensor,
                        iou: Tensor) -> None:
        """Write the (M,) objectness targets of the positives at their (M,)
        flat indices into ``obj_target`` (see ``obj_target_max_iou``)."""
        target = obj_target.view(-1)
        if self.loss_opts['obj_target_max_iou']:
            target.scatter_reduce_(0, flat, iou, reduce='amax')
            return
        # the last positive of each cell-anchor wins, as the original's
        # index_put on CPU (deterministic here on every device)
        order = torch.arange(flat.numel(), device=flat.device)
        last = torch.full_like(target, -1, dtype=torch.long).scatter_reduce(
            0, flat, order, reduce='amax')
        wins = last[flat] == order
        target[flat[wins]] = iou[wins]

    def loss_by_feat(self, outputs: Sequence[Tensor],
                     batch_data_samples: Sequence) -> Dict[str, Tensor]:
        """Training losses from raw outputs (see :meth:`forward`)."""
        ref = outputs[0]
        B = ref.shape[0]
        nc = self.num_classes
        targets = self.get_targets(batch_data_samples, ref.device, ref.dtype)
        featmap_sizes = [tuple(o.shape[2:4]) for o in outputs]
        assignments = self.assign(targets['bboxes'], targets['img_idx'],
                                  featmap_sizes)
        input_size = max(featmap_sizes[0]) * self.featmap_strides[0]

        # every output takes part in the graph even without positives
        zero = sum(o.sum() for o in outputs) * 0.0
        losses: Dict[str, Tensor] = dict(
            loss_bbox=zero, loss_obj=zero.clone())
        if self.loss_cls is not None:
            losses['loss_cls'] = zero.clone()
        # the subclass' losses stay in the logs when a level has no positive
        losses.update({k: zero.clone() for k in self.extra_loss_names})

        for lvl, (out, asg) in enumerate(zip(outputs, assignments)):
            _, A, H, W, _ = out.shape
            stride = self.featmap_strides[lvl]
            obj_target = torch.zeros(out.shape[:4], dtype=out.dtype,
                                     device=out.device)
            if asg.gt_idx.numel() > 0:
                ps = out[asg.img_idx, asg.anchor_idx, asg.grid_y, asg.grid_x]
                anchors = self.anchors[lvl].to(out)[asg.anchor_idx] / stride
                pbox = decode_box_cell(ps[:, :4], anchors)
                cell = torch.stack([asg.grid_x, asg.grid_y], -1).to(out)
                tbox = bbox_xyxy_to_cxcywh(targets['bboxes'][asg.gt_idx] /
                                           stride)
                tbox = torch.cat([tbox[:, :2] - cell, tbox[:, 2:]], -1)
                pb, tb = bbox_cxcywh_to_xyxy(pbox), bbox_cxcywh_to_xyxy(tbox)
                losses['loss_bbox'] = losses['loss_bbox'] + self.loss_bbox(
                    pb, tb)
                iou = self.box_iou_for_obj(pb.detach(), tb).clamp(min=0)
                iou = (1 - self.obj_iou_ratio) + self.obj_iou_ratio * iou
                flat = ((asg.img_idx * A + asg.anchor_idx) * H +
                        asg.grid_y) * W + asg.grid_x
                self._set_obj_target(obj_target, flat, iou.to(out.dtype))
                if self.loss_cls is not None and (
                        nc > 1 or self.loss_opts['train_single_class']):
                    eps = float(self.loss_opts['label_smoothing'])
                    cls_t = torch.full_like(ps[:, 5:5 + nc], 0.5 * eps)
                    cls_t[torch.arange(ps.shape[0], device=ps.device),
                          targets['labels'][asg.gt_idx]] = 1.0 - 0.5 * eps
                    losses['loss_cls'] = losses['loss_cls'] + self.loss_cls(
                        ps[:, 5:5 + nc], cls_t)
                extra = self._extra_level_losses(
                    ps[:, self.num_det_channels:], asg, targets, lvl, cell,
                    pbox, tbox)
                for k, v in extra.items():
                    losses[k] = losses[k] + v
            losses['loss_obj'] = losses['loss_obj'] + self.loss_obj(
                out[..., 4], obj_target) * self.obj_level_weights[lvl]

        return {
            k: v * self.loss_scale(k, input_size, B)
            for k, v in losses.items()
        }

    def box_iou_for_obj(self, pred_xyxy: Tensor,
                        target_xyxy: Tensor) -> Tensor:
        """The (aligned) CIoU that YOLOv5 uses as objectness target:
        ``loss_bbox.ciou`` when the box loss has it (:class:`YOLOv5CIoULoss`),
        else mmdet's ``ciou_loss`` (``1 - CIoU``)."""
        if hasattr(self.loss_bbox, 'ciou'):
            return self.loss_bbox.ciou(pred_xyxy, target_xyxy)
        from mmdet.models.losses.iou_loss import ciou_loss
        return 1 - ciou_loss(pred_xyxy, target_xyxy, reduction='none')

    def loss(self, feats: Features, batch_data_samples: OptSampleList,
             train_cfg: ConfigType = {}) -> dict:
        """Losses from the neck features (mmpose head interface)."""
        return self.loss_by_feat(self.forward(feats), batch_data_samples)

    # ------------------------------------------------------------ inference
    def select_and_nms(self, bboxes: Tensor, scores: Tensor, labels: Tensor,
                       score_thr: float, nms_thr: float, nms_pre: int,
                       max_per_img: int) -> Tensor:
        """Indices of the kept candidates of one image, by decreasing score
        (see :func:`select_and_nms`)."""
        return select_and_nms(bboxes, scores, labels, score_thr, nms_thr,
                              nms_pre, max_per_img)

    def _pack_results(self, decoded: Dict[str, Tensor], img_i: int,
                      keep: Tensor) -> Dict[str, Tensor]:
        """Extra ``pred_instances`` fields of the kept candidates."""
        return {}

    def _predict_single(self, decoded: Dict[str, Tensor], img_i: int,
                        img_meta: dict, cfg: dict) -> InstanceData:
        """Post-process the decoded predictions of one image."""
        cls_score, labels = decoded['cls'][img_i].max(-1)
        scores = decoded['obj'][img_i] * cls_score
        bboxes = decoded['bboxes'][img_i]
        keep = self.select_and_nms(bboxes, scores, labels,
                                   cfg.get('score_thr', 0.001),
                                   cfg.get('nms_thr', 0.6),
                                   cfg.get('nms_pre', 30000),
                                   cfg.get('max_per_img', 300))
        bounds = self.image_bounds(img_meta)
        res = InstanceData(
            bboxes=self.clip_xy(bboxes[keep], bounds),
            scores=scores[keep],
            bbox_scores=scores[keep],
            labels=labels[keep])
        for k, v in self._pack_results(decoded, img_i, keep).items():
            res.set_field(v, k)
        if 'keypoints' in res and cfg.get('clip_keypoints', True):
            res.keypoints = self.clip_xy(res.keypoints, bounds)
        return res

    #: (x0, y0, x1, y1) of the original image in input pixels
    image_bounds = staticmethod(image_bounds)
    #: clamp interleaved x, y coordinates to bounds
    clip_xy = staticmethod(clip_xy)

    def predict_by_feat(self, outputs: Sequence[Tensor],
                        batch_data_samples: OptSampleList,
                        test_cfg: ConfigType = {}) -> Predictions:
        """``pred_instances`` (in input pixels, numpy, like mmpose's
        ``YOLOXPoseHead``; ``BottomupPoseEstimator`` maps them to the
        original image with the samples' ``input_center/scale``)."""
        cfg = dict(test_cfg or {})
        decoded = self.decode(outputs)
        metas = [ds.metainfo for ds in batch_data_samples]
        return [
            self._predict_single(decoded, i, meta, cfg).numpy()
            for i, meta in enumerate(metas)
        ]

    @torch.no_grad()
    def predict(self,
                feats: Features,
                batch_data_samples: OptSampleList,
                test_cfg: ConfigType = {}) -> Predictions:
        """Predictions from the neck features (mmpose head interface)."""
        if isinstance(feats, list) and feats and isinstance(
                feats[0], (list, tuple)):
            raise NotImplementedError(
                f'{type(self).__name__} supports neither flip_test nor '
                'multiscale_test; set them to False in model.test_cfg.')
        return self.predict_by_feat(
            self.forward(feats), batch_data_samples, test_cfg=test_cfg)
