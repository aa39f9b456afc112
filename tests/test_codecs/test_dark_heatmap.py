"""DARKHeatmap: encoding formula, round trips, agreement with mmpose's
MSRAHeatmap(unbiased=True), batch decoding and invalid inputs."""
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from mmpose.codecs import MSRAHeatmap
from mmpose.registry import KEYPOINT_CODECS

from posekit_plugins.codecs import DARKHeatmap

# (input_size, heatmap_size, sigma) of the DARK paper's three settings
SETTINGS = [((96, 128), (24, 32), 1), ((192, 256), (48, 64), 2),
            ((288, 384), (72, 96), 3)]


def gaussian(W, H, mu, sigma):
    """The DARK target formula in float64 at the float centre ``mu``."""
    y, x = np.mgrid[:H, :W].astype(np.float64)
    return np.exp(-((x - mu[0])**2 + (y - mu[1])**2) / (2 * sigma**2))


def model_like_heatmaps(rng, B, K, W, H, sigma):
    """Smooth peaks of random width and height, a negative bias and noise:
    what a trained network outputs, rather than clean targets."""
    y, x = np.mgrid[:H, :W].astype(np.float64)
    mu = rng.uniform((-1, -1), (W, H), size=(B, K, 2))
    s = sigma * rng.uniform(0.7, 1.6, size=(B, K, 1, 1))
    amp = rng.uniform(0.2, 1.0, size=(B, K, 1, 1))
    hm = amp * np.exp(-((x - mu[..., 0, None, None])**2 +
                        (y - mu[..., 1, None, None])**2) / (2 * s**2))
    hm += rng.normal(0, 0.02, hm.shape) - 0.01
    return hm.astype(np.float32)


def test_build_and_default_kernel():
    for sigma, kernel in ((1, 3), (2, 11), (3, 11), (0.5, 3), (1.5, 11)):
        codec = KEYPOINT_CODECS.build(
            dict(type='DARKHeatmap', input_size=(192, 256),
                 heatmap_size=(48, 64), sigma=sigma))
        assert isinstance(codec, DARKHeatmap)
        assert codec.blur_kernel_size == kernel
    assert DARKHeatmap((192, 256), (48, 64), 2, 7).blur_kernel_size == 7
    assert codec.support_batch_decoding


@pytest.mark.parametrize('kwargs,match', [
    (dict(sigma=0), 'sigma'),
    (dict(sigma=float('nan')), 'sigma'),
    (dict(blur_kernel_size=4), 'blur_kernel_size'),
    (dict(heatmap_size=(48, )), 'heatmap_size'),
    (dict(input_size=(192.0, 256)), 'input_size'),
])
def test_bad_arguments(kwargs, match):
    args = dict(input_size=(192, 256), heatmap_size=(48, 64), sigma=2)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        DARKHeatmap(**args)


@pytest.mark.parametrize('input_size,heatmap_size,sigma', SETTINGS)
def test_encode_is_the_formula_at_the_float_centre(input_size, heatmap_size,
                                                   sigma):
    rng = np.random.default_rng(sigma)
    codec = DARKHeatmap(input_size, heatmap_size, sigma)
    W, H = heatmap_size
    kpts = rng.uniform(0, input_size, size=(1, 17, 2)).astype(np.float32)
    encoded = codec.encode(kpts)
    heatmaps = encoded['heatmaps']
    assert heatmaps.shape == (17, H, W) and heatmaps.dtype == np.float32
    stride = np.array(input_size, dtype=np.float64) / heatmap_size
    for k in range(17):
        expected = gaussian(W, H, kpts[0, k].astype(np.float64) / stride,
                            sigma)
        np.testing.assert_allclose(heatmaps[k], expected, rtol=1e-6,
                                   atol=1e-7)
    np.testing.assert_array_equal(encoded['keypoint_weights'],
                                  np.ones((1, 17), np.float32))
    # and mmpose's unbiased encoder agrees (within its float32 arithmetic)
    ref = MSRAHeatmap(input_size, heatmap_size, sigma,
                      unbiased=True).encode(kpts.copy())
    np.testing.assert_allclose(heatmaps, ref['heatmaps'], atol=1e-5)


def test_encode_never_rounds_the_centre():
    codec = DARKHeatmap((192, 256), (48, 64), 2)
    a = codec.encode(np.array([[[80.0, 100.0]]]))['heatmaps'][0]
    b = codec.encode(np.array([[[81.0, 100.0]]]))['heatmaps'][0]  # +0.25 px
    assert not np.array_equal(a, b)
    assert a[25, 20] == pytest.approx(1.0) and b[25, 20] < 1.0


def test_encode_bottom_up_max_merge():
    rng = np.random.default_rng(7)
    codec = DARKHeatmap((256, 256), (64, 64), 2)
    kpts = rng.uniform(0, 256, size=(4, 5, 2))
    vis = np.ones((4, 5), np.float32)
    vis[1, 2] = 0  # not drawn
    encoded = codec.encode(kpts, vis)
    expected = np.zeros((5, 64, 64))
    for n in range(4):
        for k in range(5):
            if vis[n, k]:
                expected[k] = np.maximum(
                    expected[k], gaussian(64, 64, kpts[n, k] / 4, 2))
    np.testing.assert_allclose(encoded['heatmaps'], expected, rtol=1e-6,
                               atol=1e-7)
    assert encoded['keypoint_weights'].shape == (4, 5)
    assert encoded['keypoint_weights'][1, 2] == 0
    assert encoded['keypoint_weights'].sum() == 19
    # zero instances (an image without people)
    empty = codec.encode(np.zeros((0, 5, 2)), np.zeros((0, 5)))
    assert empty['heatmaps'].shape == (5, 64, 64)
    assert not empty['heatmaps'].any()
    assert empty['keypoint_weights'].shape == (0, 5)


def test_encode_weights_three_sigma_box():
    """Weight 0 exactly when the box [mu - 3s, mu + 3s + 1] is wholly
    outside the map (DarkPose / mmpose's test), visibility otherwise."""
    codec = DARKHeatmap((48, 64), (48, 64), 1)  # stride 1: input = heatmap
    W, H = 48, 64
    kpts = np.array([[
        [W + 3 - 0.01, 10],  # left edge just inside: drawn
        [W + 3, 10],  # left edge on W: outside
        [-4 + 0.01, 10],  # right edge just inside
        [-4, 10],  # right edge on 0: not `< 0`, drawn
        [-4.01, 10],  # right edge < 0: outside
        [10, H + 3],  # bottom outside
        [10, -5],  # top outside
        [-2, -2],  # partly inside
        [20, 20],  # visibility 0.7: weight 0.7
        [20, 20],  # visibility 0.3: weight 0, nothing drawn
    ]])
    vis = np.array([[1, 1, 1, 1, 1, 1, 1, 1, 0.7, 0.3]], np.float32)
    encoded = codec.encode(kpts, vis)
    w = encoded['keypoint_weights'][0]
    np.testing.assert_allclose(w, [1, 0, 1, 1, 0, 0, 0, 1, 0.7, 0])
    drawn = encoded['heatmaps'].reshape(10, -1).max(axis=1) > 0
    np.testing.assert_array_equal(drawn, w > 0)
    ref = MSRAHeatmap((48, 64), (48, 64), 1, unbiased=True).encode(
        kpts[:, :8].copy(), vis[:, :8].copy())
    np.testing.assert_array_equal(ref['keypoint_weights'][0], w[:8])


def test_encode_input_checks():
    codec = DARKHeatmap((192, 256), (48, 64), 2)
    kpts = np.full((1, 3, 2), 50.0)
    kpts[0, 1] = np.nan
    # a NaN keypoint that is not visible is ignored
    out = codec.encode(kpts, np.array([[1, 0, 1]]))
    np.testing.assert_array_equal(out['keypoint_weights'], [[1, 0, 1]])
    assert not out['heatmaps'][1].any()
    with pytest.raises(ValueError, match='non-finite'):
        codec.encode(kpts, np.ones((1, 3)))
    with pytest.raises(ValueError, match='NaN'):
        codec.encode(np.zeros((1, 3, 2)), np.array([[1, np.nan, 1]]))
    with pytest.raises(ValueError, match=r'\(N, K, 2\)'):
        codec.encode(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r'\(N, K, 2\)'):
        codec.encode(np.zeros((1, 3, 3)))
    with pytest.raises(ValueError, match='keypoints_visible'):
        codec.encode(np.zeros((1, 3, 2)), np.ones((1, 4)))
    kpts_copy = np.full((1, 3, 2), 50.0)
    vis = np.ones((1, 3))
    codec.encode(kpts_copy, vis)
    np.testing.assert_array_equal(kpts_copy, np.full((1, 3, 2), 50.0))


@pytest.mark.parametrize('input_size,heatmap_size,sigma', SETTINGS)
def test_round_trip_recovers_sub_pixel_keypoints(input_size, heatmap_size,
                                                 sigma):
    rng = np.random.default_rng(10 + sigma)
    codec = DARKHeatmap(input_size, heatmap_size, sigma)
    W, H = heatmap_size
    stride = np.array(input_size) / np.array(heatmap_size)
    margin = max(3 * sigma, codec.blur_kernel_size // 2) + 2
    mu = rng.uniform(margin, (W - 1 - margin, H - 1 - margin),
                     size=(1, 17, 2))
    heatmaps = codec.encode(mu * stride)['heatmaps']
    kpts, scores = codec.decode(heatmaps)
    err = np.abs(kpts / stride - mu).max()  # heatmap pixels
    assert err < 0.05
    # the argmax alone is off by up to half a pixel
    assert np.abs(np.round(mu) - mu).max() > 0.3
    np.testing.assert_allclose(scores, heatmaps.max(axis=(1, 2))[None])


@pytest.mark.parametrize('input_size,heatmap_size,sigma', SETTINGS)
def test_decode_matches_mmpose_unbiased(input_size, heatmap_size, sigma):
    rng = np.random.default_rng(20 + sigma)
    ours = DARKHeatmap(input_size, heatmap_size, sigma)
    ref = MSRAHeatmap(input_size, heatmap_size, sigma, unbiased=True,
                      blur_kernel_size=ours.blur_kernel_size)
    W, H = heatmap_size
    stride = ours.scale_factor
    checked = 0
    for hm in model_like_heatmaps(rng, 6, 17, W, H, sigma):
        kpts, scores = ours.decode(hm)
        ref_kpts, ref_scores = ref.decode(hm.copy())
        valid = ref_scores > 0
        # where mmpose's step stays on the map (it does not clip)
        on_map = ((ref_kpts >= 0) & (ref_kpts <= (W - 1, H - 1) * stride)
                  ).all(-1)
        sel = valid & on_map
        np.testing.assert_allclose(kpts[sel] / stride, ref_kpts[sel] / stride,
                                   atol=1e-3, rtol=0)
        np.testing.assert_array_equal(scores[valid], ref_scores[valid])
        checked += sel.sum()
    assert checked > 90


def test_batch_decode_equals_decode():
    rng = np.random.default_rng(30)
    codec = DARKHeatmap((192, 256), (48, 64), 2)
    batch = model_like_heatmaps(rng, 5, 17, 48, 64, 2)
    batch[1, 3] = 0  # invalid channels in the batch
    batch[2, 4] = np.nan
    kpts_list, scores_list = codec.batch_decode(torch.from_numpy(batch))
    assert len(kpts_list) == len(scores_list) == 5
    for b in range(5):
        kpts, scores = codec.decode(batch[b])
        assert kpts_list[b].shape == (1, 17, 2)
        assert scores_list[b].shape == (1, 17)
        np.testing.assert_allclose(kpts_list[b], kpts, atol=1e-5, rtol=0)
        np.testing.assert_array_equal(scores_list[b], scores)
    # numpy input too
    np_kpts, _ = codec.batch_decode(batch)
    np.testing.assert_allclose(np.concatenate(np_kpts),
                               np.concatenate(kpts_list), atol=0, rtol=0)


def test_head_decodes_through_batch_decode():
    from mmpose.models.heads import HeatmapHead
    codec = dict(type='DARKHeatmap', input_size=(192, 256),
                 heatmap_size=(48, 64), sigma=2)
    head = HeatmapHead(in_channels=8, out_channels=17, decoder=codec)
    rng = np.random.default_rng(31)
    batch = torch.from_numpy(model_like_heatmaps(rng, 3, 17, 48, 64, 2))
    preds = head.decode(batch)
    kpts, scores = head.decoder.batch_decode(batch)
    assert len(preds) == 3
    for pred, k, s in zip(preds, kpts, scores):
        np.testing.assert_array_equal(pred.keypoints, k)
        np.testing.assert_array_equal(pred.keypoint_scores, s)


def test_decode_invalid_heatmaps():
    codec = DARKHeatmap((192, 256), (48, 64), 2)
    W, H = 48, 64
    rng = np.random.default_rng(32)
    hm = model_like_heatmaps(rng, 1, 8, W, H, 2)[0]
    hm[0] = 0  # all zero
    hm[1] = -rng.random((H, W))  # negative
    hm[2] = np.nan  # NaN
    hm[3, 10, 10] = np.inf  # +inf
    hm[4] = -np.inf
    hm[5] = 0.01 * rng.random((H, W))
    hm[5, 0, 30] = 1.0  # peak on the border: no step
    hm[6] = 0.01 * rng.random((H, W))
    hm[6, 40, W - 2] = 1.0  # 1 px from the border: no step
    hm[7] = 0.01 * rng.random((H, W))
    hm[7, 20, 20] = 1.0  # a lone spike: refined, stays within a pixel
    kpts, scores = codec.decode(hm)
    assert np.isfinite(kpts).all() and np.isfinite(scores).all()
    np.testing.assert_array_equal(scores[0, :5], 0)
    np.testing.assert_array_equal(kpts[0, :5], -codec.scale_factor[None]
                                  .repeat(5, 0))
    np.testing.assert_array_equal(kpts[0, 5], np.array([30, 0]) * 4)
    np.testing.assert_array_equal(kpts[0, 6], np.array([W - 2, 40]) * 4)
    np.testing.assert_array_equal(scores[0, 5:], 1.0)
    assert np.abs(kpts[0, 7] / 4 - (20, 20)).max() < 1


def test_decode_does_not_modify_the_heatmaps():
    codec = DARKHeatmap((192, 256), (48, 64), 2)
    rng = np.random.default_rng(33)
    batch = model_like_heatmaps(rng, 2, 17, 48, 64, 2)
    batch0 = batch.copy()
    codec.decode(batch[0])
    codec.batch_decode(batch)
    tensor = torch.from_numpy(batch)
    codec.batch_decode(tensor)
    codec.decode(tensor[1])
    np.testing.assert_array_equal(batch, batch0)
    # read-only arrays are fine too, without a warning
    batch.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        codec.decode(batch[0])
        codec.batch_decode(batch)


def test_decode_shape_checks():
    codec = DARKHeatmap((192, 256), (48, 64), 2)
    with pytest.raises(ValueError, match='batch_decode'):
        codec.decode(np.zeros((2, 17, 64, 48), np.float32))
    with pytest.raises(ValueError, match=r'\(B, K, H, W\)'):
        codec.batch_decode(torch.zeros(17, 64, 48))
    with pytest.raises(ValueError, match='heatmap_size'):
        codec.decode(np.zeros((17, 48, 64), np.float32))  # (W, H) swapped
    with pytest.raises(ValueError, match='floating'):
        codec.decode(np.zeros((17, 64, 48), np.int64))


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_batch_decode_on_cuda():
    codec = DARKHeatmap((192, 256), (48, 64), 2)
    rng = np.random.default_rng(34)
    batch = torch.from_numpy(model_like_heatmaps(rng, 8, 17, 48, 64, 2))
    cpu_kpts, cpu_scores = codec.batch_decode(batch)
    gpu_kpts, gpu_scores = codec.batch_decode(batch.cuda())
    np.testing.assert_allclose(np.stack(gpu_kpts), np.stack(cpu_kpts),
                               atol=1e-4, rtol=0)
    np.testing.assert_allclose(np.stack(gpu_scores), np.stack(cpu_scores))


@pytest.mark.parametrize('name,kernel', [
    ('td-hm_res50_dark-8xb64-210e_coco-256x192', 11),
    ('td-hm_res50_dark-8xb64-210e_coco-128x96', 3),
    ('td-hm_res18_dark-1xb12-300e_coco-tiny-128x96', 3),
])
def test_dark_configs_differ_from_their_twins_only_in_the_codec(name, kernel):
    from mmengine.config import Config
    from mmpose.registry import MODELS, TRANSFORMS
    configs = Path(__file__).parents[2] / 'configs'
    cfg = Config.fromfile(configs / f'{name}.py').to_dict()
    plain = Config.fromfile(
        configs / f"{name.replace('_dark-', '_')}.py").to_dict()
    assert plain['codec']['type'] == 'MSRAHeatmap'
    expected_codec = dict(plain['codec'], type='DARKHeatmap',
                          blur_kernel_size=kernel)
    assert cfg['codec'] == expected_codec
    assert cfg['model']['head'].pop('decoder') == expected_codec
    plain['model']['head'].pop('decoder')
    assert cfg['model'] == plain['model']
    pipe = cfg['train_dataloader']['dataset'].pop('pipeline')
    plain_pipe = plain['train_dataloader']['dataset'].pop('pipeline')
    assert pipe[-2] == dict(type='GenerateTarget', encoder=expected_codec)
    assert pipe[:-2] + pipe[-1:] == plain_pipe[:-2] + plain_pipe[-1:]
    for key in set(cfg) | set(plain):
        if key not in ('codec', 'model', 'filename'):
            assert cfg.get(key) == plain.get(key), key
    assert isinstance(TRANSFORMS.build(pipe[-2]).encoder, DARKHeatmap)
    if 'res18' in name:  # build and run the small model end to end
        model = MODELS.build(Config.fromfile(configs / f'{name}.py').model)
        assert isinstance(model.head.decoder, DARKHeatmap)
        with torch.no_grad():
            out = model.head.forward(model.extract_feat(torch.rand(2, 3, 128,
                                                                   96)))
        preds = model.head.decode(out)
        assert len(preds) == 2 and preds[0].keypoints.shape == (1, 17, 2)
