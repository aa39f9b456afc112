"""Associative embedding codec that trains (packs tag targets) and refines
grouped keypoints with DARK."""
from typing import List, Optional, Tuple

import numpy as np
from mmpose.codecs import AssociativeEmbedding
from mmpose.codecs.utils import batch_heatmap_nms
from mmpose.registry import KEYPOINT_CODECS
from mmpose.utils.tensor_utils import to_numpy
from torch import Tensor

from .dark_heatmap import default_dark_blur_kernel_size
from .dark_refinement import _check_kernel_size, refine_keypoints_dark_numpy


@KEYPOINT_CODECS.register_module()
class AssociativeEmbeddingDARK(AssociativeEmbedding):
    """mmpose's ``AssociativeEmbedding`` codec, made trainable and with
    `DARK`_ refinement of the grouped keypoints. (The `SWAHR`_ code does not
    use DARK: its bottom-up decoder, HigherHRNet's, shifts each grouped
    keypoint by a quarter pixel towards the higher neighbour; see
    ``HigherHRNetParser`` for that test path.)

    Encoding is mmpose's (Gaussian heatmaps of all people merged by max,
    ``keypoint_indices`` (N, K, 2) of ``[y * W + x, visible]`` for the tag
    loss, ``keypoint_weights`` (N, K)). mmpose's codec declares no
    ``label_mapping_table``, so ``PackPoseInputs`` drops
    ``keypoint_indices`` and its ``AssociativeEmbeddingHead`` cannot compute
    the tag loss; this codec packs them into ``gt_instance_labels``.

    Decoding is mmpose's (heatmap NMS, top-k candidates, greedy Munkres
    grouping by tag, filling of missing keypoints) except the sub-pixel
    step: the grouped keypoints of every person in an image are refined at
    once by :func:`refine_keypoints_dark_numpy` on the image's heatmaps
    (mmpose: a quarter-pixel shift towards the higher neighbour, or its
    DARK-UDP variant with ``use_udp``), before ``decode_center_shift`` is
    added and the missing keypoints are filled.

    Note:
        - instance number: N
        - keypoint number: K
        - tag dimension: L
        - batch size: B
        - heatmap size: [W, H]

        ``batch_decode`` takes heatmaps (B, K, H, W) and tags (B, K*L, H, W)
        and returns, per image, keypoints (N, K, 2) in the input space,
        keypoint scores (N, K) and instance scores (N, ).

    Args:
        decode_blur_kernel_size (int, optional): Odd size of the DARK
            modulation kernel, for the heatmaps the decoder receives (with
            ``restore_heatmap_size`` they are upsampled to the input size).
            Defaults to ``None``: chosen from ``sigma`` as in DARK's configs
            (sigma < 1.5: 3, else 11).
        **kwargs: The arguments of mmpose's ``AssociativeEmbedding``.

    .. _`DARK`: https://arxiv.org/abs/1910.06278
    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    label_mapping_table = dict(
        keypoint_weights='keypoint_weights',
        keypoint_indices='keypoint_indices')

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 sigma: Optional[float] = None,
                 decode_blur_kernel_size: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(
            input_size=input_size,
            heatmap_size=heatmap_size,
            sigma=sigma,
            **kwargs)
        if decode_blur_kernel_size is None:
            decode_blur_kernel_size = default_dark_blur_kernel_size(self.sigma)
        self.decode_blur_kernel_size = _check_kernel_size(
            decode_blur_kernel_size)

    def batch_decode(
        self, batch_heatmaps: Tensor, batch_tags: Tensor
    ) -> Tuple[List[np.ndarray], List[np.ndarray], List[np.ndarray]]:
        """Group and refine keypoints of a batch (see the class docstring).

        Args:
            batch_heatmaps (Tensor): (B, K, H, W).
            batch_tags (Tensor): (B, K*L, H, W).

        Returns:
            tuple: lists over the batch of keypoints (N, K, 2), keypoint
            scores (N, K) and instance scores (N, ), numpy.
        """
        B, K, H, W = batch_heatmaps.shape
        if batch_tags.shape[0] != B or batch_tags.shape[2:] != (H, W):
            raise ValueError(
                f'heatmaps {tuple(batch_heatmaps.shape)} and tags '
                f'{tuple(batch_tags.shape)} do not match')
        if len(self.decode_keypoint_order) != K:
            raise ValueError(
                f'decode_keypoint_order has {len(self.decode_keypoint_order)}'
                f' entries for {K} keypoints')

        peaks = batch_heatmap_nms(batch_heatmaps, self.decode_nms_kernel)
        topk_vals, topk_tags, topk_locs = to_numpy(
            self._get_batch_topk(peaks, batch_tags, k=self.decode_topk))
        batch_groups = self._group_keypoints(topk_vals, topk_tags, topk_locs)

        heatmaps_np = to_numpy(batch_heatmaps)
        tags_np = to_numpy(batch_tags)
        all_kpts, all_scores, all_inst = [], [], []
        for i, groups in enumerate(batch_groups):
            keypoints = groups[..., :-1]
            scores = groups[..., -1]
            instance_scores = scores.mean(axis=-1)
            if keypoints.size > 0:
                # the heatmaps are on the host already (grouping needs them)
                keypoints = refine_keypoints_dark_numpy(
                    keypoints.astype(np.float32),
                    heatmaps_np[i].astype(np.float32, copy=False),
                    self.decode_blur_kernel_size)
                keypoints += self.decode_center_shift * \
                    (scores > 0).astype(np.float32)[..., None]
                keypoints, scores = self._fill_missing_keypoints(
                    keypoints, scores, heatmaps_np[i], tags_np[i])
            all_kpts.append(keypoints * self.scale_factor)
            all_scores.append(scores)
            all_inst.append(instance_scores)
        return all_kpts, all_scores, all_inst
