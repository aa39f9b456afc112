"""YOLO-Pose: a one-stage, heatmap-free multi-person pose head."""
from typing import Dict, Sequence, Tuple, Union

import torch
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor

from ..task_modules import LevelAssignment, decode_yolopose_keypoints
from .yolo_anchor_head import YOLOAnchorHead

#: YOLO-Pose's loss switches per ``loss_mode`` (on top of the base's)
YOLOPOSE_LOSS_PRESETS = dict(
    posekit=dict(
        kpt_gain_per_level=True,
        kpt_vis_gain_as_cls=False,
        kpt_mask_from_visibility=True),
    faithful=dict(
        kpt_gain_per_level=False,
        kpt_vis_gain_as_cls=True,
        kpt_mask_from_visibility=False))


@MODELS.register_module()
class YOLOPoseHead(YOLOAnchorHead):
    """YOLO-Pose head for mmpose's ``BottomupPoseEstimator``.

    A YOLOv5 anchor head (see :class:`YOLOAnchorHead`: assignment, box,
    objectness, class, NMS) whose anchors also carry the K keypoints of the
    person they detect: per anchor ``3K`` extra channels
    ``(tx_1, ty_1, tc_1, ..., tx_K, ty_K, tc_K)``, decoded in grid units
    from the cell corner as ``2 t - 0.5`` (no sigmoid, not scaled by the
    anchor) and ``conf = sigmoid(tc)``. The keypoints of a person are learnt
    on every positive of its box.

    Keypoint losses (per level, on the positives): ``loss_kpt``, an OKS
    loss with the target box area ``w * h`` in grid units as the OKS area,
    and ``loss_kpt_vis`` (BCE of the confidence logits against the keypoint
    mask). Gains (``loss_weight``) are the hyp file's (hyp.scratch): box
    0.05, obj 1.0, cls 0.5, kpt 0.1, kpt_vis 0.5 (the class gain, as the
    original code), then rescaled as ``train.py`` does.

    ``loss_mode='faithful'`` (with ``loss_kpt=dict(type='YOLOPoseOKSLoss')``
    and ``loss_bbox=dict(type='YOLOv5CIoULoss')``, as the paper configs)
    computes the original ``ComputeLoss``: OKS exponent ``d^2 / (4 s^2 A)``
    averaged over the visible keypoints of a level, keypoint mask
    ``x != 0`` after the cell offset, no class loss with one class, kpt gain
    not rescaled, kpt_vis gain = the rescaled class gain (``nc / 80 * 3 /
    nl``), total times batch x world size (see docs/onestage_training.md).
    Its one forced departure: a level without a visible keypoint adds 0
    (the original: NaN). YOLO-Pose's switches, on top of
    :class:`YOLOAnchorHead`'s (faithful / posekit):

    - ``kpt_gain_per_level`` (False / True): rescale the kpt gain by
      ``3 / nl`` like the others (the original does not).
    - ``kpt_vis_gain_as_cls`` (True / False): the kpt_vis gain is rescaled
      like the class gain (``nc / 80 * 3 / nl``), else by ``3 / nl`` only.
    - ``kpt_mask_from_visibility`` (False / True): the keypoint mask (of the
      OKS and the kpt_vis target) is the annotation's visibility; False is
      the original's ``tkpt_x != 0`` after the cell offset (invisible
      keypoints are at 0; a visible one at an integer x is dropped).

    The OKS departures are options of :class:`YOLOPoseOKSLoss`
    (``exponent='metric'``, ``average='instance'``); ``'posekit'`` uses
    :class:`OKSKeypointLoss` (both, and never NaN).

    Inference: ``score = obj * cls > score_thr`` (0.001), NMS IoU
    ``nms_thr`` (0.6; the original evaluates with 0.65), at most
    ``max_per_img`` (300); each detection carries its keypoints; boxes and
    (``clip_keypoints``, default True) keypoints are clipped to the image,
    as the original's ``scale_coords`` does; ``keypoint_scores`` are the
    keypoint confidences and the score COCO ranks by is the box score (use
    ``CocoMetric(score_mode='bbox', nms_mode='none')``).

    Note:
        - batch size: B; keypoints: K; anchors per level: A
        - raw output per level: (B, A, H, W, 5 + num_classes + 3K)
        - ``pred_instances``: keypoints (N, K, 2), keypoint_scores (N, K),
          bboxes (N, 4) xyxy, bbox_scores (N,), in input pixels (mmpose's
          ``BottomupPoseEstimator`` maps them to the original image)

        Paper: https://arxiv.org/abs/2204.06806 ; the released models need
        ``extra_stacked_convs=6, layout='original'`` (see
        :class:`YOLOAnchorHead` and docs/onestage_parity.md)

    Args:
        num_keypoints (int): K.
        in_channels (int | Sequence[int]): Channels of each input level.
        featmap_strides (Sequence[int]): ``(8, 16, 32)`` or
            ``(8, 16, 32, 64)``.
        loss_kpt (dict): Keypoint loss config, called as
            ``loss(pred (M, K, 2), target (M, K, 2), visible (M, K),
            areas (M,))``.
        loss_kpt_vis (dict): Keypoint-confidence loss config, called as
            ``loss(logits (M, K), visible (M, K))``.
        **kwargs: See :class:`YOLOAnchorHead` (``num_classes``, ``anchors``,
            ``loss_bbox``, ``loss_obj``, ``loss_cls``, ...).
    """

    def __init__(self,
                 num_keypoints: int,
                 in_channels: Union[int, Sequence[int]],
                 featmap_strides: Sequence[int] = (8, 16, 32, 64),
                 loss_kpt: ConfigType = dict(
                     type='OKSKeypointLoss',
                     metainfo='configs/_base_/datasets/coco.py',
                     mode='linear',
                     reduction='mean',
                     loss_weight=0.1),
                 loss_kpt_vis: OptConfigType = dict(
                     type='BCELoss', reduction='mean', loss_weight=0.5),
                 init_cfg: OptConfigType = None,
                 **kwargs) -> None:
        if num_keypoints < 1:
            raise ValueError('num_keypoints must be >= 1')
        self.num_keypoints = num_keypoints
        self.num_extra_channels = 3 * num_keypoints
        super().__init__(
            in_channels=in_channels,
            featmap_strides=featmap_strides,
            init_cfg=init_cfg,
            **kwargs)
        self.loss_kpt = self._build_loss_kpt(loss_kpt)
        self.loss_kpt_vis = MODELS.build(
            loss_kpt_vis) if loss_kpt_vis else None

    # -------------------------------------------------------------- targets
    def _get_targets_single(self, data_sample, device: torch.device,
                            dtype: torch.dtype) -> Dict[str, Tensor]:
        out = super()._get_targets_single(data_sample, device, dtype)
        kpts, vis = self._gt_keypoints(data_sample, out['bboxes'].shape[0],
                                       device, dtype)
        out.update(keypoints=kpts, keypoints_visible=vis)
        return out

    # ------------------------------------------------------------- decoding
    def decode_kpt_cell(self, raw_extra: Tensor) -> Tuple[Tensor, Tensor]:
        """Raw (..., 3K) to keypoints (..., K, 2) in grid units from the
        cell corner and confidence logits (..., K)."""
        return decode_yolopose_keypoints(raw_extra, self.num_keypoints)

    def decode_extra(self, raw_extra: Tensor, grid: Tensor, stride: int,
                     anchors: Tensor) -> Dict[str, Tensor]:
        xy, conf = self.decode_kpt_cell(raw_extra)
        return dict(
            keypoints=(xy + grid[None, None, :, :, None]) * stride,
            keypoint_scores=conf.sigmoid())

    def _pack_results(self, decoded: Dict[str, Tensor], img_i: int,
                      keep: Tensor) -> Dict[str, Tensor]:
        scores = decoded['keypoint_scores'][img_i][keep]
        return dict(
            keypoints=decoded['keypoints'][img_i][keep],
            keypoint_scores=scores,
            keypoints_visible=scores)

    # --------------------------------------------------------------- losses
    def loss_presets(self) -> Dict[str, dict]:
        presets = super().loss_presets()
        for mode, opts in YOLOPOSE_LOSS_PRESETS.items():
            presets[mode].update(opts)
        return presets

    def term_gain(self, name: str, input_size: int) -> float:
        if name == 'loss_kpt' and not self.loss_opts['kpt_gain_per_level']:
            return 1.0
        if name == 'loss_kpt_vis' and self.loss_opts['kpt_vis_gain_as_cls']:
            return 3.0 / len(self.featmap_strides) * self.num_classes / 80.0
        return super().term_gain(name, input_size)

    @property
    def extra_loss_names(self) -> Tuple[str, ...]:
        return ('loss_kpt', ) + (('loss_kpt_vis', )
                                 if self.loss_kpt_vis is not None else ())

    def _extra_level_losses(self, raw_extra: Tensor,
                            assignment: LevelAssignment,
                            targets: Dict[str, Tensor], level: int,
                            cell_xy: Tensor, pred_box: Tensor,
                            target_box: Tensor) -> Dict[str, Tensor]:
        pkpt, pconf = self.decode_kpt_cell(raw_extra)
        losses = {}
        stride = self.featmap_strides[level]
        if self.loss_opts['kpt_mask_from_visibility']:
            losses['loss_kpt'], vis = self._keypoint_loss(
                pkpt, assignment.gt_idx, targets, cell_xy, target_box, stride)
        else:
            # the original: invisible keypoints are (0, 0), the cell offset
            # is taken from non-zero coordinates only, mask = x != 0
            tkpt = targets['keypoints'][assignment.gt_idx] / stride
            tkpt = torch.where(tkpt != 0, tkpt - cell_xy[:, None], tkpt)
            vis = (tkpt[..., 0] != 0).to(tkpt.dtype)
            losses['loss_kpt'] = self.loss_kpt(
                pkpt, tkpt, vis, target_box[:, 2] * target_box[:, 3])
        if self.loss_kpt_vis is not None:
            losses['loss_kpt_vis'] = self.loss_kpt_vis(pconf, vis)
        return losses
