"""Tests of SWAHRLoss against the formula of docs/methods.md (SWAHR)."""
import math

import numpy as np
import pytest
import torch
from mmpose.models.losses import KeypointMSELoss
from mmpose.registry import MODELS

from posekit_plugins.models.losses import SWAHRLoss

B, K, H, W = 2, 3, 5, 6


def _random_inputs(seed: int = 0, dtype=torch.float64):
    """Heatmaps with exact zeros (background), values in (0, 1] elsewhere and
    a few exact ones (peaks), predictions partly outside [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(B, K, H, W, generator=g, dtype=dtype)
    target[torch.rand(B, K, H, W, generator=g) < 0.4] = 0
    target[:, :, 2, 3] = 1.0
    output = torch.rand(B, K, H, W, generator=g, dtype=dtype) * 1.4 - 0.2
    scales = torch.randn(B, K, H, W, generator=g, dtype=dtype) * 0.5
    weights = torch.rand(B, K, generator=g, dtype=dtype)
    weights[0, 1] = 0
    mask = (torch.rand(B, H, W, generator=g) > 0.3).to(dtype)
    return output, target, scales, weights, mask


def _reference(output, target, scales, weights, mask, gamma, lw, slw,
               thr=0.0):
    """Pixel-by-pixel float64 evaluation of the methods.md formula (pixels
    with G <= thr are background)."""
    P, G, S = (t.detach().numpy() for t in (output, target, scales))
    w, m = weights.numpy(), mask.numpy()
    hm, sc = 0.0, 0.0
    for b, k, y, x in np.ndindex(B, K, H, W):
        g, p = G[b, k, y, x], P[b, k, y, x]
        fg = g > thr
        s = S[b, k, y, x] if fg else 0.0
        lg = math.log(g) if fg else 0.0
        gs = g + g * lg * s + 0.5 * g * lg**2 * s**2
        gg = g**gamma if gamma is not None and fg else 0.0
        wt = 1.0 if gamma is None else abs(1 - p) * gg + abs(p) * (1 - gg)
        msk = w[b, k] * m[b, y, x]
        hm += (p - gs)**2 * wt * msk
        sc += s**2 * msk
    n = B * K * H * W
    return lw * hm / n, slw * sc / n


@pytest.mark.parametrize('gamma', [0.01, 0.5, None])
def test_loss_equals_formula(gamma):
    output, target, scales, weights, mask = _random_inputs()
    loss = SWAHRLoss(gamma=gamma, loss_weight=1.7, scale_loss_weight=0.3)
    out = loss(output, target, scales, weights, mask)
    ref_hm, ref_sc = _reference(output, target, scales, weights, mask, gamma,
                                1.7, 0.3)
    assert set(out) == {'loss_kpt', 'loss_scale'}
    assert out['loss_kpt'].item() == pytest.approx(ref_hm, rel=1e-12)
    assert out['loss_scale'].item() == pytest.approx(ref_sc, rel=1e-12)
    assert ref_sc > 0


def test_fg_threshold_moves_the_background():
    output, target, scales, weights, mask = _random_inputs(seed=7)
    thr = 0.3
    out = SWAHRLoss(fg_threshold=thr)(output, target, scales, weights, mask)
    ref_hm, ref_sc = _reference(output, target, scales, weights, mask, 0.01,
                                1.0, 1.0, thr=thr)
    assert out['loss_kpt'].item() == pytest.approx(ref_hm, rel=1e-12)
    assert out['loss_scale'].item() == pytest.approx(ref_sc, rel=1e-12)
    # a whole-map Gaussian far from its centre: background only with it
    far = torch.full((1, 1, 1, 1), 1e-30)
    p = torch.full((1, 1, 1, 1), 0.2)
    zero = torch.zeros_like(far)
    w_default = SWAHRLoss()(p, far, zero)['loss_kpt'] / (0.2 - 1e-30)**2
    w_thr = SWAHRLoss(fg_threshold=math.exp(-4.5))(p, far, zero)['loss_kpt']
    gp = 1e-30**0.01  # ~0.5: far from a small weight
    assert w_default.item() == pytest.approx(0.8 * gp + 0.2 * (1 - gp),
                                             rel=1e-5)
    assert w_thr.item() == pytest.approx(0.2 * 0.2**2, rel=1e-5)


def test_scale_gradient_matches_analytic_derivative():
    """d/ds of loss_kpt + loss_scale, per pixel (a = ln G, n = B K H W):

        G > 0:  M/n [ -2 lw (P - G_s) W G a (1 + a s) + 2 slw s ]
        G = 0:  0
    """
    output, target, scales, weights, mask = _random_inputs(seed=1)
    scales.requires_grad_(True)
    lw, slw, gamma = 1.3, 0.7, 0.01
    out = SWAHRLoss(gamma=gamma, loss_weight=lw, scale_loss_weight=slw)(
        output, target, scales, weights, mask)
    (out['loss_kpt'] + out['loss_scale']).backward()

    G, P, s = target, output, scales.detach()
    fg = G > 0
    a = torch.where(fg, G, torch.ones_like(G)).log()
    g_s = G + G * a * s + 0.5 * G * a**2 * s**2
    wt = (1 - P).abs() * G**gamma + P.abs() * (1 - G**gamma)
    m = weights[:, :, None, None] * mask[:, None]
    n = B * K * H * W
    expected = m / n * (-2 * lw * (P - g_s) * wt * G * a * (1 + a * s)
                        + 2 * slw * s)
    expected = torch.where(fg, expected, torch.zeros_like(expected))
    torch.testing.assert_close(scales.grad, expected, rtol=1e-10, atol=1e-14)
    assert expected.abs().max() > 1e-3
    # the code does not detach W: its derivative reaches P as well
    output = output.clone().requires_grad_(True)
    SWAHRLoss(gamma=gamma, loss_weight=lw)(
        output, target, s, weights, mask)['loss_kpt'].backward()
    dw = -torch.sign(1 - P) * G**gamma + torch.sign(P) * (1 - G**gamma)
    expected_p = lw * m / n * (2 * (P - g_s) * wt + (P - g_s)**2 * dw)
    torch.testing.assert_close(output.grad, expected_p, rtol=1e-10,
                               atol=1e-14)


def test_gradcheck():
    output, target, scales, weights, mask = _random_inputs(seed=2)
    # keep P away from the kinks of |P| and |1 - P|
    output = (output.clamp(0.05, 0.95)).requires_grad_(True)
    scales.requires_grad_(True)
    loss = SWAHRLoss()

    def fn(p, s):
        out = loss(p, target, s, weights, mask)
        return out['loss_kpt'] + out['loss_scale']

    assert torch.autograd.gradcheck(fn, (output, scales))


@pytest.mark.parametrize('use_mask', [False, True])
def test_zero_scale_without_weighting_is_masked_mse(use_mask):
    output, target, _, weights, mask = _random_inputs(seed=3,
                                                      dtype=torch.float32)
    zeros = torch.zeros_like(target)
    m4 = mask[:, None] if use_mask else None
    out = SWAHRLoss(gamma=None)(output, target, zeros, weights,
                                mask if use_mask else None)
    ref = KeypointMSELoss(use_target_weight=True)(output, target, weights,
                                                  mask=m4)
    torch.testing.assert_close(out['loss_kpt'], ref)
    assert out['loss_scale'].item() == 0.0


def test_zero_scale_gamma_zero_is_not_plain_mse():
    """gamma = 0 is not plain MSE: W = |1 - P| where G > 0, |P| elsewhere."""
    output, target, _, weights, mask = _random_inputs(seed=4)
    zeros = torch.zeros_like(target)
    out = SWAHRLoss(gamma=0.0)(output, target, zeros, weights, mask)
    m = weights[:, :, None, None] * mask[:, None]
    wt = torch.where(target > 0, (1 - output).abs(), output.abs())
    ref = ((output - target)**2 * wt * m).mean()
    torch.testing.assert_close(out['loss_kpt'], ref)
    mse = ((output - target)**2 * m).mean()
    assert not torch.isclose(out['loss_kpt'], mse)


def test_positive_scale_sharpens_the_target():
    """G_s ~ G^(1+s): a prediction G^(1+d) is best explained by s = d."""
    y, x = torch.meshgrid(torch.arange(H, dtype=torch.float64),
                          torch.arange(W, dtype=torch.float64), indexing='ij')
    g = torch.exp(-((x - 2.6)**2 + (y - 2.2)**2) / (2 * 1.5**2))
    target = g.expand(B, K, H, W).clone()
    d = 0.1
    output = target**(1 + d)
    loss = SWAHRLoss(gamma=None)
    at_zero = loss(output, target, torch.zeros_like(target))['loss_kpt']
    at_d = loss(output, target, torch.full_like(target, d))['loss_kpt']
    at_minus = loss(output, target, torch.full_like(target, -d))['loss_kpt']
    assert at_d < 1e-3 * at_zero
    assert at_minus > at_zero


def test_masks_and_weights_exclude_pixels():
    output, target, scales, weights, mask = _random_inputs(seed=5)
    loss = SWAHRLoss()
    base = loss(output, target, scales, weights, mask)
    # change prediction and scale where the ignore mask is 0, on keypoints of
    # weight 0, and the scale where G = 0: nothing may change
    excluded = (mask[:, None] == 0) | (weights[:, :, None, None] == 0)
    out2 = torch.where(excluded, output + 3.0, output)
    s2 = torch.where(excluded | (target == 0), scales - 2.0, scales)
    moved = loss(out2, target, s2, weights, mask)
    for key in base:
        torch.testing.assert_close(moved[key], base[key], rtol=0, atol=0)
    # and the pixels not excluded do count
    out3 = torch.where(excluded, output, output + 0.1)
    assert loss(out3, target, scales, weights, mask)['loss_kpt'] != \
        base['loss_kpt']
    # gradients vanish exactly on excluded pixels
    o = output.clone().requires_grad_(True)
    s = scales.clone().requires_grad_(True)
    res = loss(o, target, s, weights, mask)
    (res['loss_kpt'] + res['loss_scale']).backward()
    assert (o.grad[excluded] == 0).all() and (o.grad[~excluded] != 0).any()
    assert (s.grad[excluded | (target == 0)] == 0).all()
    # use_target_weight=False ignores the keypoint weights
    no_tw = SWAHRLoss(use_target_weight=False)
    torch.testing.assert_close(
        no_tw(output, target, scales, weights, mask)['loss_kpt'],
        loss(output, target, scales, torch.ones_like(weights), mask)['loss_kpt'])


def test_mask_shapes_agree():
    output, target, scales, weights, mask = _random_inputs(seed=6)
    loss = SWAHRLoss()
    ref = loss(output, target, scales, weights, mask)
    for m in (mask[:, None], mask[:, None].expand(B, K, H, W), mask.bool()):
        got = loss(output, target, scales, weights, m)
        for key in ref:
            torch.testing.assert_close(got[key], ref[key])
    pixel_w = weights[:, :, None, None].expand(B, K, H, W)
    got = loss(output, target, scales, pixel_w, mask)
    torch.testing.assert_close(got['loss_kpt'], ref['loss_kpt'])


def test_finite_on_extreme_inputs():
    target = torch.zeros(B, K, H, W)
    target[:, :, 0, 0] = 1e-38  # ln G ~ -87
    target[:, :, 1, 1] = 1.0
    scales = torch.full((B, K, H, W), 5.0, requires_grad=True)
    output = torch.randn(B, K, H, W, requires_grad=True)
    out = SWAHRLoss()(output, target, scales)
    total = out['loss_kpt'] + out['loss_scale']
    total.backward()
    assert torch.isfinite(total)
    assert torch.isfinite(scales.grad).all() and torch.isfinite(output.grad).all()


def test_bad_input_raises():
    output, target, scales, weights, mask = _random_inputs()
    loss = SWAHRLoss()
    with pytest.raises(ValueError, match='same'):
        loss(output, target[:, :2], scales)
    with pytest.raises(ValueError, match='same'):
        loss(output, target, scales[..., :3])
    with pytest.raises(ValueError, match='target_weights'):
        loss(output, target, scales, weights[:, :2])
    with pytest.raises(ValueError, match='mask'):
        loss(output, target, scales, weights, mask[:, :2])
    with pytest.raises(ValueError, match='B, K, H, W'):
        loss(output[0], target[0], scales[0])
    with pytest.raises(ValueError, match='gamma'):
        SWAHRLoss(gamma=-1.0)
    with pytest.raises(ValueError, match='fg_threshold'):
        SWAHRLoss(fg_threshold=1.0)


def test_registered():
    loss = MODELS.build(dict(type='SWAHRLoss', gamma=0.02,
                             scale_loss_weight=2.0))
    assert isinstance(loss, SWAHRLoss)
    assert loss.gamma == 0.02 and loss.scale_loss_weight == 2.0
