"""The vectorized DARK refinement against mmpose's per-keypoint loop."""
import numpy as np
import pytest
import torch
from mmpose.codecs.utils import get_heatmap_maximum, refine_keypoints_dark
from mmpose.codecs.utils.gaussian_heatmap import generate_unbiased_gaussian_heatmaps
from mmpose.codecs.utils.post_processing import gaussian_blur

from posekit_plugins.codecs import (
    gaussian_blur_kernel_1d,
    get_heatmap_maximum_torch,
    refine_keypoints_dark_numpy,
    refine_keypoints_dark_torch,
)

DEVICES = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])


def noisy_gaussians(rng, N, K, H, W, sigma, noise=0.01, margin=-2.0):
    """(N, K, H, W) float32 unbiased Gaussians at random float centres (may
    lie up to ``-margin`` px outside the map) plus Gaussian noise."""
    maps = []
    for _ in range(N):
        mu = rng.uniform((margin, margin), (W - 1 - margin, H - 1 - margin),
                         size=(1, K, 2))
        hm, _ = generate_unbiased_gaussian_heatmaps((W, H), mu,
                                                    np.ones((1, K)), sigma)
        maps.append(hm)
    maps = np.stack(maps)
    return (maps + rng.normal(0, noise, maps.shape)).astype(np.float32)


def mmpose_refine(keypoints, heatmaps, k):
    """mmpose's refinement, one instance at a time, on copies (it mutates)."""
    return np.stack([
        refine_keypoints_dark(keypoints[n:n + 1].copy(), heatmaps[n].copy(),
                              k)[0] for n in range(len(keypoints))
    ])


def in_map(kpts, H, W):
    return ((kpts[..., 0] >= 0) & (kpts[..., 0] <= W - 1)
            & (kpts[..., 1] >= 0) & (kpts[..., 1] <= H - 1))


@pytest.mark.parametrize('k', [1, 3, 5, 7, 9, 11, 13, 17, 21])
def test_kernel_is_opencvs(k):
    cv2 = pytest.importorskip('cv2')
    ours = gaussian_blur_kernel_1d(k, dtype=torch.float64).numpy()
    np.testing.assert_allclose(
        ours, cv2.getGaussianKernel(k, 0, cv2.CV_64F).ravel(), atol=1e-7)


@pytest.mark.parametrize('shape', [(3, 17, 64, 48), (2, 5, 13, 17),
                                   (4, 3, 8, 8), (2, 4, 32, 24)])
def test_heatmap_maximum_matches_mmpose(shape):
    rng = np.random.default_rng(0)
    # coarse values give many ties: the first maximum must win, as in numpy
    hm = rng.integers(-3, 6, size=shape).astype(np.float32)
    hm[0, 0] = -1.0  # negative map: location -1
    hm[-1, -1] = 0.0  # all-zero map: location -1
    locs, vals = get_heatmap_maximum_torch(torch.from_numpy(hm))
    ref_locs, ref_vals = get_heatmap_maximum(hm.copy())
    np.testing.assert_array_equal(locs.numpy(), ref_locs)
    np.testing.assert_array_equal(vals.numpy(), ref_vals)
    assert (locs[0, 0] == -1).all() and (locs[-1, -1] == -1).all()
    # (K, H, W) input too
    locs3, vals3 = get_heatmap_maximum_torch(torch.from_numpy(hm[1]))
    np.testing.assert_array_equal(locs3.numpy(), ref_locs[1])


def test_heatmap_maximum_nan_is_invalid():
    hm = torch.rand(2, 3, 64, 48)
    hm[0, 1, 10, 7] = float('nan')
    locs, vals = get_heatmap_maximum_torch(hm)
    assert torch.isnan(vals[0, 1]) and (locs[0, 1] == -1).all()
    assert (locs[1] >= 0).all()


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('sigma,k,size', [
    (1, 3, (24, 32)),  # 128x96 input
    (2, 11, (48, 64)),  # 256x192
    (3, 11, (72, 96)),  # 384x288
    (2, 17, (48, 64)),
    (2, 5, (48, 64)),
    (2, 9, (48, 64)),
    (2, 11, (12, 10)),  # maps smaller than the (k + 4) patch
])
def test_refine_matches_mmpose_at_argmax(device, sigma, k, size):
    W, H = size
    rng = np.random.default_rng(sigma * 100 + k)
    hm = noisy_gaussians(rng, 4, 17, H, W, sigma)
    locs = np.stack([get_heatmap_maximum(h.copy())[0] for h in hm])
    ref = mmpose_refine(locs, hm, k)
    ours = refine_keypoints_dark_torch(
        torch.from_numpy(locs).to(device), torch.from_numpy(hm).to(device),
        k).cpu().numpy()
    # peaks near the borders are included (centres up to 2 px outside):
    # both leave them unrefined
    inside = in_map(ref, H, W)
    assert inside.mean() > 0.9
    np.testing.assert_allclose(ours[inside], ref[inside], atol=1e-3, rtol=0)
    assert np.abs(ours - locs).max() > 0.1  # the step is not trivial
    assert np.isfinite(ours).all() and in_map(ours, H, W).all()


def test_refine_matches_mmpose_off_the_argmax():
    """Any integer position, e.g. grouped bottom-up keypoints: equal to
    mmpose wherever its modulated log-window is not floored at 1e-10."""
    rng = np.random.default_rng(1)
    W, H, k = 40, 36, 11
    hm = noisy_gaussians(rng, 3, 6, H, W, 3, noise=0.001, margin=4)
    # integer positions up to 3 px from the peaks, on their slopes
    peaks = np.stack([get_heatmap_maximum(h.copy())[0] for h in hm])
    kpts = np.clip(peaks + rng.integers(-3, 4, size=peaks.shape), 2,
                   (W - 3, H - 3)).astype(np.float32)
    ref = mmpose_refine(kpts, hm, k)
    ours = refine_keypoints_dark_numpy(kpts, hm, k)
    checked = 0
    for n in range(3):
        modulated = gaussian_blur(hm[n].copy(), k)
        for j in range(6):
            x, y = kpts[n, j].astype(int)
            window = modulated[j, y - 2:y + 3, x - 2:x + 3]
            if (hm[n, j, y, x] > 0 and (window > 1e-10).all()
                    and in_map(ref[n, j], H, W)):
                np.testing.assert_allclose(ours[n, j], ref[n, j], atol=1e-3)
                checked += 1
    assert checked >= 15


@pytest.mark.parametrize('device', DEVICES)
def test_refine_shared_heatmaps(device):
    """(K, H, W), (1, K, H, W) and an expand give the per-instance result."""
    rng = np.random.default_rng(2)
    hm = torch.from_numpy(noisy_gaussians(rng, 1, 5, 30, 25, 2)[0]).to(device)
    kpts = torch.from_numpy(
        rng.integers(0, 25, size=(4, 5, 2)).astype(np.float32)).to(device)
    full = refine_keypoints_dark_torch(kpts, hm.expand(4, -1, -1, -1)
                                       .contiguous(), 11)
    for shared in (hm, hm[None], hm.expand(4, -1, -1, -1)):
        torch.testing.assert_close(
            refine_keypoints_dark_torch(kpts, shared, 11), full)


def test_refine_does_not_modify_inputs():
    rng = np.random.default_rng(3)
    hm = noisy_gaussians(rng, 2, 4, 20, 16, 1)
    kpts = np.stack([get_heatmap_maximum(h.copy())[0] for h in hm])
    hm0, kpts0 = hm.copy(), kpts.copy()
    out = refine_keypoints_dark_numpy(kpts, hm, 3)
    np.testing.assert_array_equal(hm, hm0)
    np.testing.assert_array_equal(kpts, kpts0)
    assert not np.array_equal(out, kpts)
    t_hm, t_kpts = torch.from_numpy(hm), torch.from_numpy(kpts)
    refine_keypoints_dark_torch(t_kpts, t_hm, 3)
    np.testing.assert_array_equal(hm, hm0)
    np.testing.assert_array_equal(kpts, kpts0)


@pytest.mark.parametrize('device', DEVICES)
def test_refine_invalid_heatmaps_no_step(device):
    H, W = 20, 16
    y = torch.arange(H, dtype=torch.float32)[:, None]
    ridge = torch.exp(-(y - 10)**2 / 8).expand(H, W)  # constant along x
    nan_map = torch.rand(H, W)
    nan_map[9, 7] = float('nan')
    inf_map = torch.rand(H, W)
    inf_map[11, 8] = float('inf')
    maps = torch.stack([
        torch.zeros(H, W),  # all zero
        -torch.rand(H, W),  # negative
        torch.full((H, W), float('nan')),  # NaN
        nan_map,  # one NaN inside the window
        inf_map,  # one inf inside the window
        torch.ones(H, W),  # constant: D = 0, H = 0 (singular)
        ridge,  # Hxx = Hxy = 0: singular Hessian, D != 0 is ignored
        torch.rand(H, W),  # peak on the border (below)
        torch.rand(H, W),  # peak 1 px from the border (below)
    ])[None].to(device)
    kpts = torch.tensor([[[8, 10], [8, 10], [8, 10], [8, 10], [8, 10],
                          [8, 10], [8, 10], [0, 5], [14, 9]]],
                        dtype=torch.float32, device=device)
    for k in (3, 11):
        out = refine_keypoints_dark_torch(kpts, maps, k)
        assert torch.isfinite(out).all()
        torch.testing.assert_close(out, kpts, rtol=0, atol=0)
    # mmpose agrees on the singular ones (det == 0 exactly: no step)
    ref = refine_keypoints_dark(kpts[:, 5:7].cpu().numpy().copy(),
                                maps[0, 5:7].cpu().numpy().copy(), 11)
    np.testing.assert_array_equal(ref, kpts[:, 5:7].cpu().numpy())


def test_refine_mmpose_invalid_location_and_nan_keypoints():
    hm = torch.rand(1, 3, 20, 16)
    kpts = torch.tensor([[[-1., -1.], [float('nan'), 3.], [1e30, -1e30]]])
    out = refine_keypoints_dark_torch(kpts, hm, 11)
    torch.testing.assert_close(out, kpts, equal_nan=True, rtol=0, atol=0)


def test_refine_step_is_clipped_to_the_map():
    """A nearly flat log-curvature gives a step far beyond the map: mmpose
    leaves the map, ours stops at its edge."""
    H, W = 20, 16
    y, x = np.mgrid[:H, :W].astype(np.float64)
    hm = np.exp(0.3 * x - 0.002 * x**2 - (y - 10)**2 / 8)[None]
    hm = hm.astype(np.float32)
    kpts = np.array([[[4., 10.]]], dtype=np.float32)
    ref = refine_keypoints_dark(kpts.copy(), hm.copy(), 11)
    assert ref[0, 0, 0] > W - 1  # mmpose: off the map
    out = refine_keypoints_dark_numpy(kpts, hm, 11)
    assert out[0, 0, 0] == W - 1
    np.testing.assert_allclose(out[0, 0, 1], ref[0, 0, 1], atol=1e-3)


def test_refine_dtypes():
    rng = np.random.default_rng(4)
    hm = torch.from_numpy(noisy_gaussians(rng, 2, 4, 32, 24, 2))
    kpts, _ = get_heatmap_maximum_torch(hm)
    ref = refine_keypoints_dark_torch(kpts, hm, 11)
    out64 = refine_keypoints_dark_torch(kpts.double(), hm.double(), 11)
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), ref, atol=1e-4, rtol=0)
    out16 = refine_keypoints_dark_torch(kpts, hm.half(), 11)
    assert out16.dtype == torch.float32
    torch.testing.assert_close(out16, ref, atol=0.05, rtol=0)


def test_refine_bad_arguments():
    hm = torch.rand(2, 3, 20, 16)
    kpts = torch.zeros(2, 3, 2)
    for k in (0, 2, 4, -3, 3.0, True):
        with pytest.raises(ValueError, match='blur_kernel_size'):
            refine_keypoints_dark_torch(kpts, hm, k)
    with pytest.raises(ValueError, match='keypoints'):
        refine_keypoints_dark_torch(torch.zeros(2, 3, 3), hm, 3)
    with pytest.raises(ValueError, match='keypoints'):
        refine_keypoints_dark_torch(torch.zeros(2, 3, 2, dtype=torch.long),
                                    hm, 3)
    with pytest.raises(ValueError, match='heatmaps'):
        refine_keypoints_dark_torch(kpts, torch.rand(2, 4, 20, 16), 3)
    with pytest.raises(ValueError, match='heatmaps'):
        refine_keypoints_dark_torch(kpts, torch.rand(3, 3, 20, 16), 3)
    with pytest.raises(TypeError):
        refine_keypoints_dark_torch(kpts.numpy(), hm, 3)
    with pytest.raises(ValueError, match='heatmaps'):
        get_heatmap_maximum_torch(torch.rand(20, 16))


def test_refine_differentiable_after_inference_mode_use():
    """The cached kernel tensors must not become inference tensors when
    first built inside the codec's inference mode."""
    from posekit_plugins.codecs import dark_refinement
    dark_refinement._band_values.cache_clear()
    dark_refinement._stencil_values.cache_clear()
    y, x = torch.meshgrid(torch.arange(20.), torch.arange(16.), indexing='ij')
    hm = torch.exp(-((x - 8.3)**2 + (y - 7.6)**2) / 8).expand(2, 3, 20, 16)
    hm = hm.contiguous()
    kpts = torch.full((2, 3, 2), 8.0)
    with torch.inference_mode():
        refine_keypoints_dark_torch(kpts, hm, 11)
    hm.requires_grad_()
    out = refine_keypoints_dark_torch(kpts, hm, 11)
    out.sum().backward()
    assert torch.isfinite(hm.grad).all() and hm.grad.abs().sum() > 0
