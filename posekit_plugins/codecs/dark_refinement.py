"""DARK: distribution-aware sub-pixel refinement of heatmap maxima, vectorized.

One torch function refines every keypoint of every instance at once, on any
device. It is shared by :class:`~posekit_plugins.codecs.DARKHeatmap`
(top-down) and by bottom-up decoders that refine grouped keypoints.
"""
import warnings
from functools import lru_cache
from typing import Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    'gaussian_blur_kernel_1d', 'get_heatmap_maximum_torch',
    'refine_keypoints_dark_torch', 'refine_keypoints_dark_numpy'
]

# OpenCV (>= 4) uses these fixed, bit-exact kernels for ksize <= 9 when sigma
# is not given (cv2.GaussianBlur(..., 0)), not its sigma rule; DarkPose and
# mmpose blur through OpenCV, so the refinement must use them too.
_OPENCV_SMALL_KERNELS = {
    1: (1.0, ),
    3: (0.25, 0.5, 0.25),
    5: (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16),
    7: (1 / 32, 3.5 / 32, 7 / 32, 9 / 32, 7 / 32, 3.5 / 32, 1 / 32),
    9: (4 / 256, 13 / 256, 30 / 256, 51 / 256, 60 / 256, 51 / 256, 30 / 256,
        13 / 256, 4 / 256),
}

# Floor of the modulated heatmap before the log (DarkPose and mmpose).
_LOG_EPS = 1e-10


def _check_kernel_size(blur_kernel_size: int) -> int:
    if (isinstance(blur_kernel_size, bool)
            or not isinstance(blur_kernel_size, (int, np.integer))
            or blur_kernel_size < 1 or blur_kernel_size % 2 != 1):
        raise ValueError('blur_kernel_size must be a positive odd int, got '
                         f'{blur_kernel_size!r}')
    return int(blur_kernel_size)


@lru_cache(maxsize=None)  # functools.cache: Python >= 3.9
def _kernel_values(kernel_size: int) -> Tuple[float, ...]:
    if kernel_size in _OPENCV_SMALL_KERNELS:
        return _OPENCV_SMALL_KERNELS[kernel_size]
    sigma = 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
    x = np.arange(kernel_size, dtype=np.float64) - (kernel_size - 1) / 2
    k = np.exp(-x**2 / (2 * sigma**2))
    return tuple((k / k.sum()).tolist())


# The constant weights are cached as numpy arrays, not tensors: a tensor
# first built while tracing (torch.export / ONNX export) would be a fake
# tensor, and one built under inference mode an inference tensor; cached,
# either would break every later eager call.
@lru_cache(maxsize=None)  # functools.cache: Python >= 3.9
def _band_values(kernel_size: int) -> np.ndarray:
    k = kernel_size
    g = _kernel_values(k)
    bands = np.zeros((k, 5, k + 4), dtype=np.float64)
    for shift in range(-(k // 2), k // 2 + 1):
        for o in range(5):
            for i in range(k + 4):
                if 0 <= shift + i - o < k:
                    bands[shift + k // 2, o, i] = g[shift + i - o]
    bands.flags.writeable = False
    return bands


def _shifted_bands(kernel_size: int, dtype: torch.dtype,
                   device: torch.device) -> Tensor:
    """Blur weights from a (k + 4)-pixel window to the 5 central pixels of a
    window shifted by ``s`` pixels: ``bands[s + k // 2][o, i] = g[s + i - o]``
    (0 outside the kernel), for ``|s| <= k // 2``; shape (k, 5, k + 4)."""
    return _as_tensor(_band_values(kernel_size)).to(device=device,
                                                    dtype=dtype)


@lru_cache(maxsize=None)  # functools.cache: Python >= 3.9
def _stencil_values() -> np.ndarray:
    """(25, 5) central-difference weights on a flattened 5x5 window (centre
    at row 2, column 2) giving dx, dy, dxx, dyy, dxy as in DarkPose."""
    s = np.zeros((5, 5, 5), dtype=np.float64)  # (row, col, derivative)
    s[2, 3, 0], s[2, 1, 0] = 0.5, -0.5
    s[3, 2, 1], s[1, 2, 1] = 0.5, -0.5
    s[2, 4, 2], s[2, 2, 2], s[2, 0, 2] = 0.25, -0.5, 0.25
    s[4, 2, 3], s[2, 2, 3], s[0, 2, 3] = 0.25, -0.5, 0.25
    s[3, 3, 4], s[1, 3, 4], s[3, 1, 4], s[1, 1, 4] = 0.25, -0.25, -0.25, 0.25
    s = s.reshape(25, 5)
    s.flags.writeable = False
    return s


def _stencils(dtype: torch.dtype, device: torch.device) -> Tensor:
    return _as_tensor(_stencil_values()).to(device=device, dtype=dtype)


@lru_cache(maxsize=None)  # functools.cache: Python >= 3.9
def _argmax_chunk(size: int) -> int:
    """Smallest divisor of ``size`` that is >= 192, or ``size``."""
    for chunk in range(192, size):
        if size % chunk == 0:
            return chunk
    return size


def gaussian_blur_kernel_1d(kernel_size: int,
                            dtype: torch.dtype = torch.float32,
                            device: Union[str, torch.device, None] = None
                            ) -> Tensor:
    """The 1-D Gaussian kernel of ``cv2.GaussianBlur(img, (k, k), 0)``.

    For ``k <= 9`` OpenCV uses fixed binomial-like kernels (e.g. ``k = 3``:
    ``[1/4, 1/2, 1/4]``); otherwise a Gaussian with the sigma rule
    ``0.3 * ((k - 1) / 2 - 1) + 0.8`` (``k = 11``: sigma 2), normalised to
    sum 1. The 2-D blur is the outer product of this kernel with itself.

    Args:
        kernel_size (int): Positive odd kernel size ``k``.
        dtype (torch.dtype): Dtype of the result. Defaults to float32.
        device (str | torch.device, optional): Device of the result.

    Returns:
        Tensor: The kernel, shape (k, ).
    """
    k = _check_kernel_size(kernel_size)
    return torch.tensor(_kernel_values(k), dtype=dtype, device=device)


def get_heatmap_maximum_torch(heatmaps: Tensor) -> Tuple[Tensor, Tensor]:
    """Location and value of the maximum of every heatmap, in one pass.

    The torch counterpart of mmpose's ``get_heatmap_maximum``: ties go to the
    first maximum in row-major order, and locations whose maximum is not
    positive are set to -1. Unlike mmpose, a heatmap holding NaN (whose
    maximum is NaN) also gets location -1.

    Note:
        - instance number: N
        - keypoint number: K
        - heatmap size: H, W

    Args:
        heatmaps (Tensor): Heatmaps, (N, K, H, W) or (K, H, W).

    Returns:
        tuple:
        - locs (Tensor): (x, y) of the maxima in heatmap pixels, (N, K, 2)
          (or (K, 2)), floating dtype of ``heatmaps`` (float32 for others).
        - vals (Tensor): The maxima, (N, K) (or (K, )), raw: they may be
          zero, negative or NaN for invalid heatmaps.
    """
    if not isinstance(heatmaps, Tensor):
        raise TypeError(f'heatmaps must be a torch.Tensor, got {type(heatmaps)}')
    if heatmaps.ndim not in (3, 4) or heatmaps.shape[-1] < 1 \
            or heatmaps.shape[-2] < 1:
        raise ValueError('heatmaps must be (N, K, H, W) or (K, H, W) with '
                         f'H, W >= 1, got shape {tuple(heatmaps.shape)}')
    H, W = heatmaps.shape[-2:]
    flat = heatmaps.reshape(-1, H * W)
    chunk = _argmax_chunk(H * W)
    if chunk == H * W:
        vals, idx = flat.max(dim=-1)
    else:
        # torch's CPU max-with-index is ~15x slower than amax: find the
        # chunk holding the maximum with amax, then argmax inside it only.
        # Chunks are contiguous in row-major order, so ties still go to the
        # first maximum (and NaN, which max propagates, to the first NaN).
        chunks = flat.view(flat.shape[0], -1, chunk)
        vals, chunk_idx = chunks.amax(dim=-1).max(dim=-1)
        rows = torch.arange(flat.shape[0], device=flat.device)
        idx = chunk_idx * chunk + chunks[rows, chunk_idx].argmax(dim=-1)
    vals = vals.view(heatmaps.shape[:-2])
    idx = idx.view(heatmaps.shape[:-2])
    loc_dtype = heatmaps.dtype if heatmaps.is_floating_point() \
        else torch.float32
    locs = torch.stack((idx % W, torch.div(idx, W, rounding_mode='floor')),
                       dim=-1).to(loc_dtype)
    # `vals > 0` is False for NaN too
    locs = locs.masked_fill(~(vals > 0).unsqueeze(-1), -1)
    return locs, vals


def refine_keypoints_dark_torch(keypoints: Tensor, heatmaps: Tensor,
                                blur_kernel_size: int) -> Tensor:
    """Refine heatmap maxima by DARK's distribution-aware Taylor step.

    For each keypoint at integer heatmap position ``m`` (the integer part of
    ``keypoints``), as `DARK`_ (Zhang et al., CVPR 2020) and mmpose's
    ``refine_keypoints_dark`` do:

    1. blur the heatmap with OpenCV's Gaussian kernel of size
       ``blur_kernel_size`` (zero padding; see :func:`gaussian_blur_kernel_1d`)
       and rescale it so its maximum equals the original maximum;
    2. ``L = log(max(blurred, 1e-10))``;
    3. if ``m`` is at least 2 pixels from every border, take central
       differences for the gradient ``D`` and Hessian ``H`` of ``L`` at ``m``
       and, if ``det H != 0``, move the keypoint by ``-H^-1 D``.

    The step needs the blurred map only on the 5x5 window around ``m``, and
    the rescale multiplies it by a positive constant, which shifts ``L`` by a
    constant and leaves ``D`` and ``H`` unchanged. So each keypoint gathers a
    ``(k + 4) x (k + 4)`` patch of its heatmap, blurs it separably down to the
    5x5 window and never touches the rest of the map: O(N K k^2) work instead
    of blurring N K whole maps. The constant only matters through the 1e-10
    floor; it is taken locally (the heatmap value at ``m`` over the blurred
    window's maximum) instead of globally (the heatmap's maximum over the
    blurred map's maximum), so the result differs from mmpose's only where
    the modulated map falls below 1e-10 within 2 pixels of ``m``, i.e. where
    the log (and the step) is dominated by the floor anyway.

    Robustness (finite keypoints always give finite results): no step where
    ``m`` is less than 2 pixels from a border or outside the map (this
    includes mmpose's -1 for invalid maxima), where the heatmap value at
    ``m`` is not positive (all-zero or negative heatmaps; mmpose would step
    on a floored log there), where ``det H == 0``, or where the step is not
    finite (NaN / inf in the window). A step that would leave the map is
    clipped to ``[0, W - 1] x [0, H - 1]``; mmpose does not clip (the two
    agree wherever mmpose's result lies in the map). Non-finite keypoints
    are returned unchanged.

    Note:
        - instance number: N
        - keypoint number: K
        - heatmap size: H, W

        ``heatmaps`` may be (N, K, H, W), or (1, K, H, W) / (K, H, W) when all
        N instances share one set of heatmaps (bottom-up: N grouped people on
        one image); a broadcast (expanded) tensor is never copied. The
        inputs are not modified.

    Args:
        keypoints (Tensor): Floating (x, y) in heatmap pixels, (N, K, 2),
            normally the integer argmax (e.g. from
            :func:`get_heatmap_maximum_torch`).
        heatmaps (Tensor): Floating heatmaps on the device of ``keypoints``,
            (N, K, H, W), (1, K, H, W) or (K, H, W).
        blur_kernel_size (int): Positive odd size of the modulation kernel
            (DARK: 3 for sigma 1 / 128x96 input, 11 for sigma 2 and 3).

    Returns:
        Tensor: The refined keypoints, (N, K, 2), dtype of ``keypoints``.

    .. _`DARK`: https://arxiv.org/abs/1910.06278
    """
    k = _check_kernel_size(blur_kernel_size)
    if not isinstance(keypoints, Tensor) or not isinstance(heatmaps, Tensor):
        raise TypeError('keypoints and heatmaps must be torch.Tensor, got '
                        f'{type(keypoints)} and {type(heatmaps)}')
    if keypoints.ndim != 3 or keypoints.shape[-1] != 2 \
            or not keypoints.is_floating_point():
        raise ValueError('keypoints must be a floating (N, K, 2) tensor, got '
                         f'{keypoints.dtype} {tuple(keypoints.shape)}')
    if heatmaps.ndim == 3:
        heatmaps = heatmaps.unsqueeze(0)
    N, K = keypoints.shape[:2]
    if heatmaps.ndim != 4 or heatmaps.shape[0] not in (N, 1) \
            or heatmaps.shape[1] != K or not heatmaps.is_floating_point():
        raise ValueError(
            f'heatmaps must be floating (N, K, H, W) = ({N}, {K}, H, W), '
            f'(1, {K}, H, W) or ({K}, H, W) for keypoints of shape '
            f'{tuple(keypoints.shape)}, got {heatmaps.dtype} '
            f'{tuple(heatmaps.shape)}')
    if keypoints.device != heatmaps.device:
        raise ValueError('keypoints and heatmaps must be on one device, got '
                         f'{keypoints.device} and {heatmaps.device}')
    H, W = heatmaps.shape[-2:]
    if N * K == 0 or H < 5 or W < 5:  # no pixel is 2 px from every border
        return keypoints.clone()

    device = heatmaps.device
    dtype = heatmaps.dtype if heatmaps.dtype in (torch.float32,
                                                 torch.float64) \
        else torch.float32
    M = N * K
    r = k // 2 + 2  # patch radius: blur radius + difference stencil radius

    # Flat (M, ...) tensors and few ops: on small batches the cost is the
    # number of torch calls, not the arithmetic.
    kpts = keypoints.reshape(M, 2)
    finite = torch.isfinite(kpts).all(dim=-1)
    size = torch.tensor([W, H], device=device)
    # clamp before the cast: huge floats do not fit in int64
    pos = kpts.nan_to_num(-1.).clamp(-1, max(W, H)).floor().long()  # (x, y)
    interior = finite & ((pos >= 2) & (pos <= size - 3)).all(dim=-1)
    # A valid dummy position for the others; their step is discarded.
    pos = torch.where(interior.unsqueeze(-1), pos, 2)

    hm = heatmaps
    if hm.shape[0] != N or (N > 1 and hm.stride(0) == 0):
        hm = hm[:1]  # one set shared by all instances (maybe an expand)
    P = 2 * r + 1  # = k + 4
    if H < P or W < P:  # small maps: zero rows / columns are zero padding
        hm = F.pad(hm, (0, max(W, P) - W, 0, max(H, P) - H))
    hm = hm.reshape(-1, *hm.shape[-2:])  # (N * K or K, H', W')
    ids = torch.arange(hm.shape[0], device=device)
    if hm.shape[0] != M:
        ids = ids.repeat(N)

    # A P x P patch per keypoint, moved to lie inside the (padded) map; the
    # move shifts the blur weights instead, so pixels outside the map have
    # no weight (= zero padding) and nothing is masked.
    start = pos - r
    corner = torch.minimum(
        start.clamp(min=0),
        torch.tensor([hm.shape[-1] - P, hm.shape[-2] - P], device=device))
    patch = hm.unfold(1, P, 1).unfold(2, P, 1)[ids, corner[:, 1],
                                               corner[:, 0]].to(dtype)
    # (M, 2, 5, P): weights from the patch's columns / rows to the window's
    weights = _shifted_bands(k, dtype, device)[corner - start + k // 2]
    # The blurred map on the 5x5 window around m (rows y-2..y+2).
    blurred = weights[:, 1] @ patch @ weights[:, 0].transpose(-1, -2)

    # Rescale so that the blurred window's maximum equals the value at m
    # (the heatmap's maximum when m is its argmax): the local counterpart
    # of DARK's rescale, which only the 1e-10 floor sees.
    orig_max = hm[ids, pos[:, 1], pos[:, 0]].to(dtype)
    scale = orig_max / blurred.amax(dim=(-2, -1))
    log_hm = (blurred * scale[:, None, None]).clamp(min=_LOG_EPS).log()
    # dx, dy, dxx, dyy, dxy by central differences, as one matmul
    dx, dy, dxx, dyy, dxy = (log_hm.view(M, 25)
                             @ _stencils(dtype, device)).unbind(-1)
    det = dxx * dyy - dxy * dxy
    ok = interior & (det != 0) & (orig_max > 0) & (scale > 0) \
        & torch.isfinite(scale)
    # -H^-1 D with the closed-form inverse of the symmetric 2x2 Hessian
    offset = torch.stack((dxy * dy - dyy * dx, dxy * dx - dxx * dy),
                         dim=-1) / det.unsqueeze(-1)
    ok = ok & torch.isfinite(offset).all(dim=-1)

    refined = torch.minimum((kpts + offset.to(kpts.dtype)).clamp(min=0),
                            (size - 1).to(kpts.dtype))
    return torch.where(ok.unsqueeze(-1), refined, kpts).view(N, K, 2)


def refine_keypoints_dark_numpy(keypoints: np.ndarray, heatmaps: np.ndarray,
                                blur_kernel_size: int) -> np.ndarray:
    """Numpy front end of :func:`refine_keypoints_dark_torch` (same maths).

    A drop-in for mmpose's ``refine_keypoints_dark`` that does not modify its
    inputs: ``keypoints`` (N, K, 2), ``heatmaps`` (K, H, W) shared by the N
    instances, or (N, K, H, W). Runs on the CPU without copying the heatmaps.

    Args:
        keypoints (np.ndarray): (x, y) in heatmap pixels, (N, K, 2).
        heatmaps (np.ndarray): (K, H, W) or (N, K, H, W).
        blur_kernel_size (int): Positive odd modulation kernel size.

    Returns:
        np.ndarray: The refined keypoints, (N, K, 2), dtype of ``keypoints``
        (float32 if it is not floating).
    """
    kpts = np.asarray(keypoints)
    if not np.issubdtype(kpts.dtype, np.floating):
        kpts = kpts.astype(np.float32)
    hms = np.asarray(heatmaps)
    if not np.issubdtype(hms.dtype, np.floating):
        raise ValueError(f'heatmaps must be floating, got {hms.dtype}')
    out = refine_keypoints_dark_torch(
        _as_tensor(kpts), _as_tensor(hms), blur_kernel_size)
    return out.numpy()


def _as_tensor(array: np.ndarray) -> Tensor:
    """Share memory with ``array``; read-only arrays are fine as the
    refinement never writes (torch would only warn about them)."""
    array = np.ascontiguousarray(array)
    if array.flags.writeable:
        return torch.from_numpy(array)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='.*not writable.*')
        return torch.from_numpy(array)
