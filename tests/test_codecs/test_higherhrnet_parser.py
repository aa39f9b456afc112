"""HigherHRNetParser against the original SWAHR/HigherHRNet test path.

Reference data: ``tests/data/swahr/orig_test.*``, written by
``python tools/make_swahr_fixtures.py --swahr <checkout> --deps <dir>`` from
the authors' code (not part of this repository).
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.registry import KEYPOINT_CODECS
from mmpose.structures import PoseDataSample

from posekit_plugins.codecs import HigherHRNetParser

DATA = osp.join(osp.dirname(osp.dirname(__file__)), 'data', 'swahr')


@pytest.fixture(scope='module')
def fixture():
    z = np.load(osp.join(DATA, 'orig_test.npz'))
    with open(osp.join(DATA, 'orig_test.json')) as f:
        meta = json.load(f)
    return z, meta


def make_parser(meta):
    s = meta['settings']
    t = s['test']
    return KEYPOINT_CODECS.build(
        dict(type='HigherHRNetParser', num_keypoints=s['num_joints'],
             flip_indices=s['flip_index'],
             loss_with_heatmaps=s['loss']['WITH_HEATMAPS_LOSS'],
             loss_with_ae=s['loss']['WITH_AE_LOSS'],
             with_heatmaps=t['WITH_HEATMAPS'], with_ae=t['WITH_AE'],
             project2image=t['PROJECT2IMAGE'],
             max_num_people=t['MAX_NUM_PEOPLE'],
             detection_threshold=t['DETECTION_THRESHOLD'],
             tag_threshold=t['TAG_THRESHOLD'],
             use_detection_val=t['USE_DETECTION_VAL'],
             ignore_too_much=t['IGNORE_TOO_MUCH'],
             nms_kernel=t['NMS_KERNEL'], nms_padding=t['NMS_PADDING'],
             adjust=t['ADJUST'], refine=t['REFINE']))


def raw_outputs(z, i, K, seed=0):
    """The stored outputs with SWAHR scale channels in front (random: the
    parser must not read them)."""
    gen = torch.Generator().manual_seed(seed + i)
    res = []
    for prefix in ('out', 'flip'):
        outs = []
        for r in range(2):
            o = torch.from_numpy(z[f'{prefix}{i}_{r}'].astype(np.float32))
            scale = torch.randn(K, *o.shape[1:], generator=gen)
            outs.append(torch.cat([scale, o])[None])
        res.append(outs)
    return res


def test_settings_are_the_yaml_test_settings(fixture):
    _, meta = fixture
    t = meta['settings']['test']
    assert t['FLIP_TEST'] and t['ADJUST'] and t['REFINE']
    assert t['PROJECT2IMAGE'] and t['SCALE_FACTOR'] == [1]
    assert (t['DETECTION_THRESHOLD'], t['NMS_KERNEL'], t['NMS_PADDING']) == \
        (0.12, 5, 2)
    p = HigherHRNetParser(flip_indices=meta['settings']['flip_index'])
    # the defaults are the w32_512 yaml's test settings
    assert (p.detection_threshold, p.tag_threshold, p.max_num_people,
            p.nms_kernel, p.nms_padding) == (0.12, 1.0, 30, 5, 2)


@pytest.mark.parametrize('i', range(4))
def test_parity_with_original(fixture, i):
    z, meta = fixture
    rec = meta['images'][i]
    K = meta['settings']['num_joints']
    parser = make_parser(meta)
    outs, flips = raw_outputs(z, i, K)
    H, W = rec['input_shape'][2:]
    hm, tg = parser.aggregate(outs, flips, input_size=(W, H))
    assert tuple(hm.shape) == (1, K, H, W)
    assert tuple(tg.shape) == (1, K, H, W, 2)
    idx = z[f'agg_idx{i}']
    np.testing.assert_allclose(
        hm[0].reshape(K, -1)[:, idx].numpy(), z[f'agg_hm{i}'], atol=1e-4)
    np.testing.assert_allclose(
        tg[0].reshape(K, H * W, -1)[:, idx].numpy(), z[f'agg_tag{i}'],
        atol=1e-4)
    np.testing.assert_allclose(hm[0].double().sum((1, 2)).numpy(),
                               z[f'agg_hm_sum{i}'], rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(tg[0].double().sum((1, 2)).numpy(),
                               z[f'agg_tag_sum{i}'], rtol=1e-5, atol=1e-3)

    res = parser.parse(hm, tg)[0]
    ref = z[f'grouped{i}']
    assert len(res['people']) == rec['num_people'] == len(ref) > 0
    np.testing.assert_allclose(res['scores'], rec['scores'], atol=1e-3)
    np.testing.assert_allclose(res['people'][..., :2], ref[..., :2],
                               atol=0.5)
    np.testing.assert_allclose(res['people'][..., 2], ref[..., 2],
                               atol=1e-3)
    # in original-image pixels as get_final_preds
    kp = parser.to_original(res['people'][..., :2], rec['center'],
                            rec['scale'], (W, H))
    np.testing.assert_allclose(kp, z[f'keypoints{i}'][..., :2], atol=0.5)


def test_decode_batch_contract(fixture):
    """The head's call: batched raw outputs, flip indices and input size
    from the metainfo; keypoints in input pixels."""
    z, meta = fixture
    K = meta['settings']['num_joints']
    recs = meta['images'][:3]  # the first three share the input shape
    shapes = {tuple(r['input_shape']) for r in recs}
    assert len(shapes) == 1
    H, W = recs[0]['input_shape'][2:]
    per_image = [raw_outputs(z, i, K) for i in range(3)]
    outs = [torch.cat([p[0][r] for p in per_image]) for r in range(2)]
    flips = [torch.cat([p[1][r] for p in per_image]) for r in range(2)]
    samples = []
    for _ in range(3):
        ds = PoseDataSample()
        ds.set_metainfo(dict(flip_indices=meta['settings']['flip_index'],
                             input_size=(W, H)))
        samples.append(ds)
    parser = make_parser(meta)
    parser.flip_indices = None  # read from the data samples
    preds = parser.decode_batch(outs, flips, samples)
    assert len(preds) == 3
    for i, inst in enumerate(preds):
        assert isinstance(inst, InstanceData)
        ref = z[f'grouped{i}']
        assert inst.keypoints.shape == (len(ref), K, 2)
        np.testing.assert_allclose(inst.keypoints, ref[..., :2], atol=0.5)
        np.testing.assert_allclose(inst.keypoint_scores, ref[..., 2],
                                   atol=1e-3)
        np.testing.assert_allclose(inst.scores, meta['images'][i]['scores'],
                                   atol=1e-3)
        np.testing.assert_array_equal(inst.bbox_scores, inst.scores)


def test_single_image_decode(fixture):
    z, meta = fixture
    K = meta['settings']['num_joints']
    outs, flips = raw_outputs(z, 3, K)
    kpts, kpt_scores, scores = make_parser(meta).decode(
        [o[0] for o in outs], [o[0] for o in flips])
    ref = z['grouped3']
    np.testing.assert_allclose(kpts, ref[..., :2], atol=0.5)
    np.testing.assert_allclose(scores, meta['images'][3]['scores'],
                               atol=1e-3)
    assert kpt_scores.shape == (len(ref), K)


def test_no_people_gives_empty_result():
    K = 17
    parser = HigherHRNetParser(flip_indices=list(range(K)))
    outs = [torch.zeros(2, 3 * K, 8, 16), torch.zeros(2, 2 * K, 16, 32)]
    preds = parser.decode_batch(outs, [o.clone() for o in outs])
    assert len(preds) == 2
    for inst in preds:
        assert inst.keypoints.shape == (0, K, 2)
        assert inst.keypoint_scores.shape == (0, K)
        assert inst.scores.shape == (0, )


def test_nan_outputs_raise():
    K = 17
    parser = HigherHRNetParser(flip_indices=list(range(K)))
    outs = [torch.zeros(1, 3 * K, 8, 16), torch.zeros(1, 2 * K, 16, 32)]
    outs[1][0, K + 3, 2, 2] = float('nan')
    with pytest.raises(ValueError, match='NaN'):
        parser.decode_batch(outs, None)
    with pytest.raises(ValueError, match='NaN'):
        parser.decode_batch([o.nan_to_num() for o in outs], outs)


def test_flip_needs_flip_indices():
    K = 17
    parser = HigherHRNetParser()
    outs = [torch.zeros(1, 3 * K, 8, 16), torch.zeros(1, 2 * K, 16, 32)]
    with pytest.raises(ValueError, match='flip_indices'):
        parser.decode_batch(outs, outs)
    assert len(parser.decode_batch(outs, None)) == 1  # no flip: fine


def test_encode_not_implemented():
    with pytest.raises(NotImplementedError, match='only decodes'):
        HigherHRNetParser().encode(np.zeros((1, 17, 2)))


def _gauss_row(width: int, centre: float, sigma: float = 1.5):
    import torch
    x = torch.arange(width, dtype=torch.float64)
    return torch.exp(-(x - centre)**2 / (2 * sigma**2))


def _centroid(row):
    import torch
    x = torch.arange(row.shape[-1], dtype=row.dtype)
    return float((row * x).sum() / row.sum())


def test_flip_shift_aligns_models_trained_with_the_input_pixel_flip():
    """A model trained with mmpose's flip (x -> w - 1 - x in input pixels)
    predicts, on the flipped image, peaks whose pixel flip-back lands
    1 - 1/stride px left of the plain peaks; flip_shift=(0.75, 0.5) puts
    them back, None (the original's) leaves the offset."""
    import torch

    from posekit_plugins.codecs.higherhrnet_parser import HigherHRNetParser
    w_in, x_in = 64, 21.0

    def outputs(x):
        # 1/4: heatmap + tag; 1/2: heatmap (plain HigherHRNet, K = 1)
        r4 = _gauss_row(w_in // 4, x / 4)
        r2 = _gauss_row(w_in // 2, x / 2)
        o4 = torch.stack([r4, torch.zeros_like(r4)])[None, :, None, :]
        o2 = r2[None, None, None, :]
        return [o4.expand(1, 2, 4, -1).float(), o2.expand(1, 1, 8, -1).float()]

    plain = outputs(x_in)
    flipped = outputs(w_in - 1 - x_in)
    for shift in ((0.75, 0.5), None):
        parser = HigherHRNetParser(num_keypoints=1, flip_indices=[0],
                                   num_scale_channels=0, flip_shift=shift)
        hm_plain, _ = parser._split(plain, False, None)
        hm_flip, _ = parser._split(flipped, True, [0])
        gap = _centroid(hm_flip[0, 0, 0].double()) - _centroid(
            hm_plain[0, 0, 0].double())
        # at the 1/2 resolution: (0.75 / 2 + 0.5) / 2 px without the shift
        if shift is None:
            assert gap < -0.3, gap
        else:
            assert abs(gap) < 0.02, gap
