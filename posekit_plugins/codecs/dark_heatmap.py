"""DARK: unbiased Gaussian heatmap targets and distribution-aware decoding."""
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

from .dark_refinement import (
    _as_tensor,
    _check_kernel_size,
    get_heatmap_maximum_torch,
    refine_keypoints_dark_torch,
)

__all__ = ['DARKHeatmap', 'default_dark_blur_kernel_size']


def default_dark_blur_kernel_size(sigma: float) -> int:
    """The modulation kernel of the DARK paper's configs for a target sigma.

    sigma 1 (128x96 input) -> 3; sigma 2 (256x192) -> 11; sigma 3
    (384x288) -> 11. Other sigmas take the nearer setting: 3 below 1.5,
    11 from 1.5 on.
    """
    return 3 if sigma < 1.5 else 11


def _pair(value: Sequence[int], name: str) -> Tuple[int, int]:
    if len(value) != 2 or not all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool)
            and v > 0 for v in value):
        raise ValueError(f'{name} must be two positive ints (w, h), got '
                         f'{value!r}')
    return int(value[0]), int(value[1])


@KEYPOINT_CODECS.register_module()
class DARKHeatmap(BaseKeypointCodec):
    """Heatmap codec of `DARK`_ (Zhang et al., CVPR 2020).

    Encoding draws, for every keypoint, a Gaussian centred on its exact
    floating-point position in heatmap coordinates (``keypoints * heatmap_size
    / input_size``, never rounded)::

        G_k(x, y) = exp(-((x - mu_x)^2 + (y - mu_y)^2) / (2 sigma^2))

    over the whole map (as DarkPose and mmpose's ``unbiased=True``; it is
    evaluated as the outer product of two 1-D Gaussians). Several instances
    (bottom-up) are merged by a pixel-wise max. A keypoint gets weight 0 and
    no Gaussian when its visibility is below 0.5 or its 3-sigma box
    ``[mu - 3 sigma, mu + 3 sigma + 1]`` lies wholly outside the heatmap;
    otherwise its weight is its visibility. Visible keypoints with NaN / inf
    coordinates raise a ``ValueError`` (a corrupt annotation should not train
    silently); the coordinates of invisible keypoints are ignored.

    Decoding takes the argmax of each heatmap and refines it with the
    Taylor step of :func:`refine_keypoints_dark_torch` on the modulated log
    heatmap, then maps it to the input by ``input_size / heatmap_size``
    (mmpose's convention, no half-pixel shift). Heatmaps whose maximum is not
    positive or not finite (all-zero, negative, NaN) yield location -1 (as
    mmpose) mapped to the input, i.e. finite coordinates, and score 0; the
    score is otherwise the maximum. ``decode`` and ``batch_decode`` never
    modify the given heatmaps. ``batch_decode`` decodes a whole (B, K, H, W)
    batch in one vectorized pass on the heatmaps' device, so heads use it.

    Code vs paper: the modulation kernel is OpenCV's ``GaussianBlur`` kernel
    with sigma 0, as in DarkPose's and mmpose's code. For k <= 9 that is a
    fixed binomial kernel (k = 3: [1/4, 1/2, 1/4]), not the paper's rule
    ``sigma = 0.3 ((k - 1) / 2 - 1) + 0.8``, which holds for k >= 11
    (k = 11: sigma 2). The default kernel follows the paper's configs
    (:func:`default_dark_blur_kernel_size`): sigma 1 -> 3, sigma 2 -> 11,
    sigma 3 -> 11. mmpose's ``MSRAHeatmap`` weights a keypoint with
    visibility in (0, 0.5) by its visibility although it draws nothing; this
    codec gives such keypoints weight 0.

    Note:
        - instance number: N
        - keypoint number: K
        - batch size: B
        - input size: [w, h]; heatmap size: [W, H]

    Encoded:
        - heatmaps (np.ndarray): float32 (K, H, W)
        - keypoint_weights (np.ndarray): float32 (N, K)

    Args:
        input_size (tuple): Input image size [w, h].
        heatmap_size (tuple): Heatmap size [W, H].
        sigma (float): Sigma of the target Gaussian, in heatmap pixels.
        blur_kernel_size (int, optional): Odd size of the decoding modulation
            kernel. Defaults to ``None``: chosen from ``sigma`` as above.

    .. _`DARK`: https://arxiv.org/abs/1910.06278
    """

    label_mapping_table = dict(keypoint_weights='keypoint_weights')
    field_mapping_table = dict(heatmaps='heatmaps')

    def __init__(self,
                 input_size: Tuple[int, int],
                 heatmap_size: Tuple[int, int],
                 sigma: float,
                 blur_kernel_size: Optional[int] = None) -> None:
        super().__init__()
        self.input_size = _pair(input_size, 'input_size')
        self.heatmap_size = _pair(heatmap_size, 'heatmap_size')
        if not (isinstance(sigma, (int, float, np.number))
                and np.isfinite(sigma) and sigma > 0):
            raise ValueError(f'sigma must be a positive number, got {sigma!r}')
        self.sigma = float(sigma)
        if blur_kernel_size is None:
            blur_kernel_size = default_dark_blur_kernel_size(self.sigma)
        self.blur_kernel_size = _check_kernel_size(blur_kernel_size)
        self.scale_factor = (np.array(self.input_size, dtype=np.float64) /
                             self.heatmap_size).astype(np.float32)

    def encode(self,
               keypoints: np.ndarray,
               keypoints_visible: Optional[np.ndarray] = None) -> dict:
        """Encode keypoints (input image space) into Gaussian heatmaps.

        Args:
            keypoints (np.ndarray): (N, K, 2) keypoints in the input image.
            keypoints_visible (np.ndarray, optional): (N, K) visibilities;
                all ones when ``None``.

        Returns:
            dict:
            - heatmaps (np.ndarray): float32 (K, H, W), max over instances.
            - keypoint_weights (np.ndarray): float32 (N, K).
        """
        keypoints = np.asarray(keypoints)
        if keypoints.ndim != 3 or keypoints.shape[-1] != 2:
            raise ValueError('keypoints must be (N, K, 2), got shape '
                             f'{keypoints.shape}')
        N, K, _ = keypoints.shape
        if keypoints_visible is None:
            visible = np.ones((N, K), dtype=np.float32)
        else:
            visible = np.asarray(keypoints_visible, dtype=np.float32)
            if visible.shape != (N, K):
                raise ValueError(
                    f'keypoints_visible must be (N, K) = ({N}, {K}), got '
                    f'shape {visible.shape}')
            if not np.isfinite(visible).all():
                raise ValueError('keypoints_visible contains NaN or inf')

        W, H = self.heatmap_size
        sigma = self.sigma
        mu = keypoints.astype(np.float64) / self.scale_factor  # (N, K, 2)
        labelled = visible >= 0.5
        finite = np.isfinite(mu).all(axis=-1)
        if (labelled & ~finite).any():
            n, k = np.argwhere(labelled & ~finite)[0]
            raise ValueError(
                f'visible keypoint (instance {n}, keypoint {k}) has '
                f'non-finite coordinates {keypoints[n, k].tolist()}')
        mu = np.where(labelled[..., None], mu, 0.)
        # 3-sigma box test of DarkPose / mmpose
        radius = 3 * sigma
        in_map = ((mu[..., 0] - radius < W) & (mu[..., 1] - radius < H)
                  & (mu[..., 0] + radius + 1 >= 0)
                  & (mu[..., 1] + radius + 1 >= 0))
        drawn = labelled & in_map
        weights = np.where(drawn, visible, 0).astype(np.float32)

        # Separable: exp(-(dx^2 + dy^2) / 2s^2) = exp(-dx^2/2s^2) exp(...)
        x = np.arange(W, dtype=np.float64)
        y = np.arange(H, dtype=np.float64)
        gx = np.exp(-(x - mu[..., 0:1])**2 / (2 * sigma**2))  # (N, K, W)
        gy = np.exp(-(y - mu[..., 1:2])**2 / (2 * sigma**2))  # (N, K, H)
        gx = (gx * drawn[..., None]).astype(np.float32)
        gy = gy.astype(np.float32)

        heatmaps = np.zeros((K, H, W), dtype=np.float32)
        for n in np.flatnonzero(drawn.any(axis=1)):
            g = gy[n, :, :, None] * gx[n, :, None, :]
            if N == 1:
                heatmaps = g
            else:
                np.maximum(heatmaps, g, out=heatmaps)
        return dict(heatmaps=heatmaps, keypoint_weights=weights)

    def decode(self, encoded: Union[np.ndarray, Tensor]
               ) -> Tuple[np.ndarray, np.ndarray]:
        """Decode one instance's heatmaps (the caller's array is unchanged).

        Args:
            encoded (np.ndarray | Tensor): Heatmaps, (K, H, W).

        Returns:
            tuple:
            - keypoints (np.ndarray): float32 (1, K, 2), input image space.
            - scores (np.ndarray): float32 (1, K); 0 for invalid heatmaps.
        """
        if isinstance(encoded, Tensor):
            heatmaps = encoded.detach()
        else:
            heatmaps = np.asarray(encoded)
            if not np.issubdtype(heatmaps.dtype, np.floating):
                raise ValueError(
                    f'heatmaps must be floating, got {heatmaps.dtype}')
            heatmaps = _as_tensor(heatmaps)
        if heatmaps.ndim != 3:
            raise ValueError('decode expects (K, H, W) heatmaps, got shape '
                             f'{tuple(heatmaps.shape)}; use batch_decode '
                             'for (B, K, H, W)')
        keypoints, scores = self._decode_tensor(heatmaps.unsqueeze(0))
        return keypoints.cpu().numpy(), scores.cpu().numpy()

    def batch_decode(self, batch_heatmaps: Union[Tensor, np.ndarray]
                     ) -> Tuple[List[np.ndarray], List[np.ndarray]]:
        """Decode a batch of heatmaps in one pass on their device.

        Args:
            batch_heatmaps (Tensor | np.ndarray): (B, K, H, W).

        Returns:
            tuple:
            - batch_keypoints (List[np.ndarray]): B arrays, float32 (1, K, 2),
              input image space.
            - batch_scores (List[np.ndarray]): B arrays, float32 (1, K).
        """
        if isinstance(batch_heatmaps, Tensor):
            heatmaps = batch_heatmaps.detach()
        else:
            heatmaps = _as_tensor(np.asarray(batch_heatmaps))
        if heatmaps.ndim != 4:
            raise ValueError('batch_decode expects (B, K, H, W) heatmaps, got '
                             f'shape {tuple(heatmaps.shape)}')
        keypoints, scores = self._decode_tensor(heatmaps)
        keypoints = keypoints.cpu().numpy()
        scores = scores.cpu().numpy()
        return ([kpts[None] for kpts in keypoints],
                [s[None] for s in scores])

    def _decode_tensor(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """(B, K, H, W) -> keypoints (B, K, 2) in input space, scores (B, K)."""
        if not heatmaps.is_floating_point():
            raise ValueError(f'heatmaps must be floating, got {heatmaps.dtype}')
        W, H = self.heatmap_size
        if tuple(heatmaps.shape[-2:]) != (H, W):
            raise ValueError(
                f'heatmaps are {tuple(heatmaps.shape[-2:])} (H, W) but the '
                f'codec was built for heatmap_size (W, H) = {(W, H)}')
        # decoding is never differentiated; inference mode saves dispatch
        with torch.inference_mode():
            return self.decode_torch(heatmaps)

    def decode_torch(self, heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
        """Decode a batch of heatmaps with torch ops only.

        The decoding of :meth:`batch_decode` without its input checks,
        inference mode and numpy conversion, so that it can be traced: the
        ONNX export of top-down models
        (:func:`posekit_plugins.deployment.export_topdown`) puts exactly
        this code in the graph.

        Note:
            - batch size: B
            - keypoint number: K
            - heatmap size: [W, H]

        Args:
            heatmaps (Tensor): Floating heatmaps, (B, K, H, W).

        Returns:
            tuple:
            - keypoints (Tensor): (B, K, 2), input image space.
            - scores (Tensor): float32 (B, K); 0 for invalid heatmaps.
        """
        locs, vals = get_heatmap_maximum_torch(heatmaps)
        # +inf maxima are invalid too (get_heatmap_maximum_torch only
        # marks non-positive and NaN ones)
        valid = (vals > 0) & torch.isfinite(vals)
        locs = locs.float().masked_fill(~valid.unsqueeze(-1), -1)
        keypoints = refine_keypoints_dark_torch(locs, heatmaps,
                                                self.blur_kernel_size)
        scale = torch.from_numpy(self.scale_factor).to(keypoints.device)
        scores = torch.where(valid, vals, vals.new_zeros(())).float()
        return keypoints * scale, scores
