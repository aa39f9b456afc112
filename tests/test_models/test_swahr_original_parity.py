"""End to end against the original SWAHR test path: the fixture checkpoint
(``tests/data/swahr/orig_tiny.pth``, a narrowed HigherHRNet+SWAHR with random
weights: stage channels /8, one module per stage 3/4, one block per branch,
stored as float16; see ``tests/data/swahr/orig_test.json`` ``settings``)
converted with ``convert_swahr_checkpoint`` into the matching mmpose config
(``tests/data/swahr/tiny_config.py``: the real SWAHR W32 config narrowed,
``HigherHRNetParser`` as the head's parser, ``HigherHRNetResizeAlign`` at
64 px as the test resize), then ``mmpose.apis.inference_bottomup`` on the 4
``data/coco_tiny`` images with flip test, compared with what the original
produced (``orig_test.npz``, ``tools/make_swahr_fixtures.py``):

- the raw outputs of the plain and the flipped pass (heatmap and tag
  channels; the fixture stores them as float16, so the tolerance is float16
  rounding: 1e-4 absolute plus half a float16 ulp relative);
- the aggregated maps at the fixture's sampled pixels (1e-4 plus one
  float16 ulp of the largest value: our rounded outputs may differ from the
  fixture's by one ulp where the float32 values straddle a rounding
  boundary);
- the people: count, scores (1e-3) and keypoints in image pixels (0.5 px).

As in the fixture, the test path runs on the float16-rounded outputs (the
head's outputs are rounded before the parser reads them), so that it sees
the values the original's ``HeatmapParser`` saw up to one float16 ulp.

A second test runs the converted model on the loss fixture's input
(``orig_loss.npz``) and compares all output channels, SWAHR scale maps
included, with the original's.
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from posekit_plugins.utils import convert_swahr_checkpoint
from tests.conftest import COCO_TINY

DATA = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'data',
                'swahr')
IMAGES = str(COCO_TINY)
CONFIG = osp.join(DATA, 'tiny_config.py')
CKPT = osp.join(DATA, 'orig_tiny.pth')

# float16 keeps 11 significant bits: rounding moves a value by at most
# 2^-11 of itself (relative), a little more allowed for the float32 noise
F16_RTOL = 2.0**-11 * 1.05
ATOL = 1e-4


@pytest.fixture(scope='module')
def fixture():
    z = np.load(osp.join(DATA, 'orig_test.npz'))
    with open(osp.join(DATA, 'orig_test.json')) as f:
        meta = json.load(f)
    return z, meta


@pytest.fixture(scope='module')
def model():
    from mmpose.apis import init_model
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(CONFIG)
    state = convert_swahr_checkpoint(CKPT, cfg)
    model = init_model(cfg, None, device='cpu')
    model.load_state_dict(state, strict=True)
    model.eval()
    return model


def check_f16(ours: np.ndarray, ref16: np.ndarray, what: str) -> float:
    """``ours`` (float32) equals the float16 ``ref16`` up to float16
    rounding; returns the largest difference in units of the tolerance."""
    ref = ref16.astype(np.float32)
    assert ours.shape == ref.shape, what
    np.testing.assert_allclose(ours, ref, rtol=F16_RTOL, atol=ATOL,
                               err_msg=what)
    return float((np.abs(ours - ref) / (ATOL + F16_RTOL * np.abs(ref))).max())


class Capture:
    """Stands for ``head.original_outputs``: keeps the float32 outputs of
    every call and returns them rounded to float16 (as the fixture)."""

    def __init__(self, fn):
        self.fn = fn
        self.calls = []

    def __call__(self, feats):
        outs = self.fn(feats)
        self.calls.append([o.detach().clone() for o in outs])
        return [o.half().float() for o in outs]


def test_config_matches_fixture_model(fixture):
    _, meta = fixture
    s = meta['settings']
    cfg = Config.fromfile(CONFIG)
    extra = cfg.model.backbone.extra
    assert [list(extra[f'stage{i}'].num_channels)
            for i in (2, 3, 4)] == s['stage_channels']
    assert list(cfg.model.head.deconv_out_channels) == s['deconv_channels']
    assert cfg.model.head.with_swahr
    assert cfg.model.test_cfg.flip_test == s['test']['FLIP_TEST']
    p = cfg.model.head.parser
    t = s['test']
    assert p.max_num_people == t['MAX_NUM_PEOPLE']
    assert p.detection_threshold == t['DETECTION_THRESHOLD']
    assert p.tag_threshold == t['TAG_THRESHOLD']
    assert (p.adjust, p.refine, p.project2image) == (t['ADJUST'],
                                                     t['REFINE'],
                                                     t['PROJECT2IMAGE'])


def test_inference_bottomup_matches_original(fixture, model):
    from mmpose.apis import inference_bottomup

    z, meta = fixture
    K = meta['settings']['num_joints']
    head = model.head
    assert type(head.parser).__name__ == 'HigherHRNetParser'
    assert list(model.dataset_meta['flip_indices']) == \
        meta['settings']['flip_index']
    capture = Capture(head.original_outputs)
    head.original_outputs = capture
    worst = dict(raw=0.0, agg=0.0, score=0.0, xy=0.0, value=0.0)
    try:
        for i, rec in enumerate(meta['images']):
            capture.calls.clear()
            with torch.no_grad():
                sample = inference_bottomup(
                    model, osp.join(IMAGES, rec['file']))[0]
            assert len(capture.calls) == 2  # plain and flipped pass
            assert tuple(sample.metainfo['input_size']) == tuple(
                rec['base_size'])
            np.testing.assert_allclose(sample.metainfo['input_center'],
                                       rec['center'])
            np.testing.assert_allclose(
                sample.metainfo['input_scale'],
                np.asarray(rec['scale']) * 200, rtol=1e-6)

            # raw outputs, heatmap and tag channels (the fixture has no
            # scale channels)
            for prefix, outs in zip(('out', 'flip'), capture.calls):
                for r, o in enumerate(outs):
                    worst['raw'] = max(worst['raw'], check_f16(
                        o[0, K:].numpy(), z[f'{prefix}{i}_{r}'],
                        f'{rec["file"]} {prefix} resolution {r}'))

            # aggregated maps at the sampled pixels
            rounded = [[o.half().float() for o in c] for c in capture.calls]
            hm, tg = head.parser.aggregate(
                rounded[0], rounded[1], model.dataset_meta['flip_indices'],
                sample.metainfo['input_size'])
            assert list(hm.shape[1:]) == rec['heatmap_shape']
            idx = z[f'agg_idx{i}']
            hm = hm[0].reshape(K, -1)[:, idx].numpy()
            tg = tg[0].reshape(K, -1, tg.shape[-1])[:, idx].numpy()
            # both sides are made of float16-rounded outputs, which may
            # differ by one float16 ulp: the averages and interpolations of
            # the aggregation keep that bound (relative to the largest value)
            for ours, key in ((hm, f'agg_hm{i}'), (tg, f'agg_tag{i}')):
                tol = ATOL + 2.0**-10 * float(np.abs(z[key]).max())
                np.testing.assert_allclose(ours, z[key], atol=tol, err_msg=key)
            worst['agg'] = max(worst['agg'],
                               float(np.abs(hm - z[f'agg_hm{i}']).max()),
                               float(np.abs(tg - z[f'agg_tag{i}']).max()))

            # people
            pred = sample.pred_instances
            ref = z[f'keypoints{i}']
            assert len(pred.keypoints) == rec['num_people'] == len(ref)
            scores = np.asarray(pred.bbox_scores, np.float64)
            np.testing.assert_allclose(scores, rec['scores'], atol=1e-3)
            kpts = np.asarray(pred.keypoints, np.float64)
            np.testing.assert_allclose(kpts, ref[..., :2], atol=0.5)
            vals = np.asarray(pred.keypoint_scores, np.float64)
            np.testing.assert_allclose(vals, ref[..., 2], atol=1e-3)
            worst['score'] = max(worst['score'],
                                 float(np.abs(scores - rec['scores']).max()))
            worst['xy'] = max(worst['xy'],
                              float(np.abs(kpts - ref[..., :2]).max()))
            worst['value'] = max(worst['value'],
                                 float(np.abs(vals - ref[..., 2]).max()))
    finally:
        del head.original_outputs
    print('max differences (raw in units of the float16 tolerance):',
          worst)


def test_outputs_with_scale_channels_match_original(model):
    """All output channels ([scale K, heatmaps K, tags K] at 1/4, [scale K,
    heatmaps K] at 1/2) on the loss fixture's (float16) input; our data
    preprocessor's normalisation is skipped (the input is normalised)."""
    z = np.load(osp.join(DATA, 'orig_loss.npz'))
    x = torch.from_numpy(z['input'].astype(np.float32))
    with torch.no_grad():
        outs = model.head.original_outputs(model.extract_feat(x))
    assert len(outs) == 2
    for r, o in enumerate(outs):
        check_f16(o.numpy(), z[f'output_{r}'], f'resolution {r}')
