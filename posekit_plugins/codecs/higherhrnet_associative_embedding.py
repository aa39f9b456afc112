"""Associative embedding targets at several resolutions (HigherHRNet)."""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmpose.registry import KEYPOINT_CODECS

from .associative_embedding_dark import AssociativeEmbeddingDARK


@KEYPOINT_CODECS.register_module()
class HigherHRNetAssociativeEmbedding(AssociativeEmbeddingDARK):
    """Training targets of `HigherHRNet`_ / `SWAHR`_: heatmaps at every
    output resolution (1/4 and 1/2 of the input by default) and tag indices
    at the first (1/4).

    ``encode`` returns ``heatmaps`` as a *list* (one (K, H_i, W_i) array per
    resolution), which ``PackPoseInputs`` packs into a
    ``MultilevelPixelData`` and ``BottomupGetIgnoreMask`` turns into one
    ignore mask per resolution; ``keypoint_indices`` (N, K, 2) of
    ``[y * W_0 + x, valid]`` and ``keypoint_weights`` (N, K) refer to the
    first resolution.

    The Gaussians are drawn as the authors' target generators draw them
    (``HeatmapGenerator`` / ``JointsGenerator`` of the HigherHRNet and SWAHR
    code; behaviour, not code): keypoints scaled to each resolution, the
    centre truncated to an integer pixel (``center_mode='trunc'``: ``int(x)``,
    so -0.5 maps to pixel 0), keypoints whose integer centre lies outside
    the map dropped, the same ``sigma`` at every resolution, a square
    support of radius ``round(3 * sigma + 1)`` pixels and the people merged by
    maximum. ``center_mode='round'`` centres on the nearest pixel (mmpose's
    ``generate_gaussian_heatmaps``).

    Decoding is :class:`AssociativeEmbeddingDARK`'s on the first resolution
    (the grouping of the original's test path is ``HigherHRNetParser``'s).

    Note:
        - instance number: N
        - keypoint number: K
        - heatmap size of resolution i: [W_i, H_i] = heatmap_size * 2^i

    Args:
        input_size (tuple): Input size [W, H].
        heatmap_size (tuple): Size [W, H] of the first (lowest) resolution.
        sigma (float): Gaussian sigma at every resolution (code: 2).
        num_resolutions (int): Number of resolutions, each twice the
            previous one. Defaults to 2 (1/4 and 1/2 of a 512 input).
        center_mode (str): ``'trunc'`` (the code) or ``'round'``.
        **kwargs: :class:`AssociativeEmbeddingDARK`'s other arguments.

    .. _`HigherHRNet`: https://arxiv.org/abs/1908.10357
    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 sigma: float = 2.0,
                 num_resolutions: int = 2,
                 center_mode: str = 'trunc',
                 decode_blur_kernel_size: Optional[int] = None,
                 **kwargs) -> None:
        if kwargs.get('use_udp', False):
            raise ValueError('use_udp is not supported: the targets follow '
                             "the authors' generators")
        super().__init__(
            input_size=input_size,
            heatmap_size=heatmap_size,
            sigma=sigma,
            decode_blur_kernel_size=decode_blur_kernel_size,
            **kwargs)
        if num_resolutions < 1:
            raise ValueError(
                f'num_resolutions must be >= 1, got {num_resolutions}')
        if center_mode not in ('trunc', 'round'):
            raise ValueError("center_mode must be 'trunc' or 'round', got "
                             f'{center_mode!r}')
        self.center_mode = center_mode
        self.heatmap_sizes = [(int(heatmap_size[0]) * 2**i,
                               int(heatmap_size[1]) * 2**i)
                              for i in range(num_resolutions)]

    def _centres(self, keypoints: np.ndarray,
                 size: Sequence[int]) -> np.ndarray:
        scale = np.array(size, dtype=np.float64) / np.array(
            self.input_size, dtype=np.float64)
        xy = keypoints.astype(np.float64) * scale
        if self.center_mode == 'trunc':
            return np.trunc(xy).astype(np.int64)
        return np.floor(xy + 0.5).astype(np.int64)

    def _draw(self, centres: np.ndarray, valid: np.ndarray,
              size: Sequence[int]) -> np.ndarray:
        W, H = size
        N, K = valid.shape
        heatmaps = np.zeros((K, H, W), dtype=np.float32)
        r = int(round(3 * self.sigma + 1))
        offs = np.arange(-r, r + 1, dtype=np.float64)
        g1 = np.exp(-offs**2 / (2 * self.sigma**2))
        for n, k in zip(*np.nonzero(valid)):
            cx, cy = centres[n, k]
            x0, x1 = max(cx - r, 0), min(cx + r + 1, W)
            y0, y1 = max(cy - r, 0), min(cy + r + 1, H)
            g = np.outer(g1[y0 - cy + r:y1 - cy + r],
                         g1[x0 - cx + r:x1 - cx + r]).astype(np.float32)
            np.maximum(heatmaps[k, y0:y1, x0:x1], g,
                       out=heatmaps[k, y0:y1, x0:x1])
        return heatmaps

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Heatmaps at every resolution, tag indices at the first.

        Args:
            keypoints (np.ndarray): (N, K, 2) in the input space.
            keypoints_visible (np.ndarray, optional): (N, K).

        Returns:
            dict: ``heatmaps`` (list of (K, H_i, W_i) float32),
            ``keypoint_indices`` (N, K, 2) int64 and ``keypoint_weights``
            (N, K) float32 (1 where the keypoint has a target at the first
            resolution).
        """
        N, K = keypoints.shape[:2]
        if keypoints_visible is None:
            keypoints_visible = np.ones((N, K), dtype=np.float32)
        visible = keypoints_visible > 0
        heatmaps = []
        for i, size in enumerate(self.heatmap_sizes):
            centres = self._centres(keypoints, size)
            W, H = size
            valid = visible & (centres[..., 0] >= 0) & (
                centres[..., 1] >= 0) & (centres[..., 0] < W) & (
                    centres[..., 1] < H)
            heatmaps.append(self._draw(centres, valid, size))
            if i == 0:
                indices = np.stack(
                    [centres[..., 1] * W + centres[..., 0],
                     valid.astype(np.int64)], axis=-1)
                indices[..., 0] *= valid
                weights = valid.astype(np.float32)
        return dict(
            heatmaps=heatmaps,
            keypoint_indices=indices.astype(np.int64),
            keypoint_weights=weights)
