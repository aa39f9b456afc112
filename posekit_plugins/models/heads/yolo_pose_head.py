"""YOLO-Pose: a one-stage, heatmap-free multi-person pose head."""
from typing import Dict, Sequence, Tuple, Union

import torch
from mmpose.registry import MODELS
from mmpose.utils.typing import ConfigType, OptConfigType
from torch import Tensor

from ..task_modules import LevelAssignment, decode_yolopose_keypoints
from .yolo_anchor_head import YOLOAnchorHead


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

    Keypoint losses (per level, on the positives): ``loss_kpt`` (default
    :class:`OKSKeypointLoss`, ``1 - OKS`` per person with the target box area
    ``w * h`` in grid units as the OKS area, averaged over the persons with
    a visible keypoint) and ``loss_kpt_vis`` (BCE of the confidence against
    ``visible > 0``). Default gains are the code's (hyp.scratch): box 0.05,
    obj 1.0, cls 0.5, kpt 0.1; the keypoint-confidence BCE takes the class
    gain, as the original code does; all then rescaled as YOLOv5 does (see
    ``yolov5_loss_scaling``).

    Paper vs code: the original code's OKS exponent is ``d^2 / (4 s^2 A)``
    and it averages over visible keypoints, not persons; here the OKS is the
    metric's (pycocotools) and never divides by zero. With one class the
    original skips the class loss; here it is trained (target 1 on the
    positives) so that ``score = obj * cls`` stays meaningful.

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
        losses['loss_kpt'], vis = self._keypoint_loss(
            pkpt, assignment.gt_idx, targets, cell_xy, target_box,
            self.featmap_strides[level])
        if self.loss_kpt_vis is not None:
            losses['loss_kpt_vis'] = self.loss_kpt_vis(pconf, vis)
        return losses
