"""AEHigherHRNetHead (HigherHRNet / SWAHR, outputs at 1/4 and 1/2), its
two-resolution codec and HigherHRNetAELoss."""
import copy

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.models.losses import AssociativeEmbeddingLoss
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import MultilevelPixelData, PoseDataSample

from posekit_plugins.models.heads import AEHigherHRNetHead
from posekit_plugins.models.losses import HigherHRNetAELoss
from tests.conftest import REPO

K = 17
ORDER = [0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16]
FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
CODEC = dict(type='HigherHRNetAssociativeEmbedding', input_size=(128, 128),
             heatmap_size=(32, 32), sigma=1, decode_blur_kernel_size=3,
             decode_keypoint_order=ORDER)
FIXTURES = REPO / 'tests' / 'data' / 'swahr'
TINY_CFG = REPO / 'configs' / \
    'ae_higherhrnet-tiny_swahr-1xb4-300e_coco-tiny-256x256.py'
TINY_PLAIN_CFG = REPO / 'configs' / \
    'ae_higherhrnet-tiny_1xb4-300e_coco-tiny-256x256.py'


def fixture_model_config(swahr: bool = True) -> Config:
    """The tiny config with the widths of tools/make_swahr_model_fixture.py
    (HRNet-W32 / 8, one module and block per branch, 2 BasicBlocks)."""
    cfg = Config.fromfile(TINY_CFG if swahr else TINY_PLAIN_CFG)
    extra = cfg.model.backbone.extra
    extra.stage1.update(num_blocks=(4, ), num_channels=(64, ))
    extra.stage2.update(num_channels=(4, 8))
    extra.stage3.update(num_channels=(4, 8, 16))
    extra.stage4.update(num_channels=(4, 8, 16, 32))
    cfg.model.head.update(in_channels=4, deconv_out_channels=(4, ),
                          num_basic_blocks=2)
    return cfg


def _head_cfg(**kwargs):
    cfg = dict(type='AEHigherHRNetHead', in_channels=8, num_keypoints=K,
               deconv_out_channels=(8, ), num_basic_blocks=1, decoder=CODEC)
    cfg.update(kwargs)
    return cfg


def _samples(n_people=(2, 3), seed=0, with_mask=True):
    rng = np.random.default_rng(seed)
    codec = KEYPOINT_CODECS.build(CODEC)
    samples = []
    for n in n_people:
        kpts = rng.uniform(4, 124, size=(n, K, 2))
        vis = (rng.uniform(size=(n, K)) > 0.2).astype(np.float32)
        enc = codec.encode(kpts, vis)
        s = PoseDataSample(metainfo=dict(
            flip_indices=FLIP, input_size=(128, 128)))
        fields = dict(heatmaps=[torch.from_numpy(h) for h in enc['heatmaps']])
        if with_mask:
            masks = []
            for h in enc['heatmaps']:
                m = np.ones((1, ) + h.shape[1:], bool)
                m[:, :4, :4] = False
                masks.append(torch.from_numpy(m))
            fields['heatmap_mask'] = masks
        s.gt_fields = MultilevelPixelData(**fields)
        s.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']),
            keypoint_indices=torch.from_numpy(enc['keypoint_indices']))
        samples.append(s)
    return samples


def _feats(b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, 8, 32, 32, generator=g), )


# ------------------------------------------------------------------ shapes
@pytest.mark.parametrize('swahr', [True, False])
@pytest.mark.parametrize('tag_per_keypoint', [True, False])
def test_output_shapes(swahr, tag_per_keypoint):
    head = MODELS.build(_head_cfg(with_swahr=swahr,
                                  tag_per_keypoint=tag_per_keypoint))
    head.init_weights()
    assert isinstance(head, AEHigherHRNetHead)
    out_1_4, out_1_2 = head.forward(_feats())
    s = K if swahr else 0
    tags = K if tag_per_keypoint else 1
    assert out_1_4.shape == (2, s + K + tags, 32, 32)
    assert out_1_2.shape == (2, s + K, 64, 64)
    outs = head.original_outputs(_feats())
    assert isinstance(outs, list) and len(outs) == 2
    for a, b in zip(outs, (out_1_4, out_1_2)):
        torch.testing.assert_close(a, b)
    # the deconv reads the 1/4 features with the 1/4 heatmaps and tags
    assert head.deconv_layers[0][0][0].in_channels == 8 + K + tags
    if swahr:
        for branch in head.conv_scale_layers:
            assert (branch[-1].weight == 0).all()
        assert (out_1_4[:, :K] == 0).all() and (out_1_2[:, :K] == 0).all()
    else:
        assert not hasattr(head, 'conv_scale_layers')
    sc, hm, tg = head.split_output(out_1_4, 0)
    assert hm.shape[1] == K and tg.shape[1] == tags
    assert (sc is None) == (not swahr)
    assert head.split_output(out_1_2, 1)[2] is None


def test_config_checks():
    with pytest.raises(ValueError, match='first resolution'):
        MODELS.build(_head_cfg(with_ae_loss=(True, True)))
    with pytest.raises(ValueError, match='one entry per'):
        MODELS.build(_head_cfg(cat_output=(True, True)))


# ------------------------------------------------- parity with the original
def test_original_outputs_equal_the_original_model():
    """The authors' model (tiny widths, random weights, eval) on a real
    image; tools/make_swahr_model_fixture.py saved its outputs."""
    from mmpose.registry import MODELS as M

    from posekit_plugins.utils import convert_swahr_checkpoint
    cfg = fixture_model_config()
    model = M.build(cfg.model)
    sd = convert_swahr_checkpoint(FIXTURES / 'model_tiny_swahr.pth', cfg)
    model.load_state_dict(sd, strict=True)
    model.eval()
    ref = np.load(FIXTURES / 'model_tiny_swahr_outputs.npz')
    bgr = torch.from_numpy(ref['image'][:, :, ::-1].copy()).permute(2, 0, 1)
    data = model.data_preprocessor(
        dict(inputs=[bgr], data_samples=[PoseDataSample()]), training=False)
    with torch.no_grad():
        outs = model.head.original_outputs(
            model.extract_feat(data['inputs']))
    assert [tuple(o.shape) for o in outs] == [(1, 3 * K, 64, 64),
                                              (1, 2 * K, 128, 128)]
    for i, out in enumerate(outs):
        o = out[0].double()
        expected = torch.from_numpy(ref[f'output_{i}'].astype(np.float64))
        # float16 fixture: half a unit in the last place of |x| <= 16
        torch.testing.assert_close(o, expected, atol=8e-3, rtol=1e-3)
        torch.testing.assert_close(
            o.sum(dim=(1, 2)), torch.from_numpy(ref[f'output_{i}_sum']),
            atol=1e-2, rtol=1e-4)
        torch.testing.assert_close(
            o.abs().sum(dim=(1, 2)),
            torch.from_numpy(ref[f'output_{i}_abssum']), atol=1e-2,
            rtol=1e-5)


# ------------------------------------------------------------------- losses
@pytest.mark.parametrize('swahr', [True, False])
def test_loss_finite_and_decreasing(swahr):
    torch.manual_seed(0)
    head = MODELS.build(_head_cfg(with_swahr=swahr))
    head.init_weights()
    feats = _feats()
    samples = _samples()
    opt = torch.optim.Adam(head.parameters(), lr=2e-3)
    totals = []
    for _ in range(6):
        losses = head.loss(feats, samples)
        names = {'loss_kpt', 'loss_kpt_1_2', 'loss_pull', 'loss_push'}
        if swahr:
            names |= {'loss_scale', 'loss_scale_1_2'}
        assert set(losses) == names
        total = sum(losses.values())
        assert torch.isfinite(total)
        totals.append(float(total))
        opt.zero_grad()
        total.backward()
        opt.step()
    assert totals[-1] < totals[0]


def test_loss_matches_its_parts():
    """Heatmap losses at both resolutions equal the configured loss on the
    split outputs with the resized masks; weights apply to loss_kpt only."""
    head = MODELS.build(_head_cfg(heatmap_loss_weights=(1.0, 0.5)))
    head.init_weights()
    with torch.no_grad():
        for b in head.conv_scale_layers:
            b[-1].weight.normal_(std=0.1)
    feats, samples = _feats(), _samples()
    losses = head.loss(feats, samples)
    outs = head.original_outputs(feats)
    for i, suffix in enumerate(('', '_1_2')):
        sc, hm, _ = head.split_output(outs[i], i)
        tgt = torch.stack([s.gt_fields.heatmaps[i] for s in samples])
        mask = torch.stack([s.gt_fields.heatmap_mask[i]
                            for s in samples]).float()
        ref = head.keypoint_loss(hm, tgt, sc, None, mask)
        w = (1.0, 0.5)[i]
        torch.testing.assert_close(losses['loss_kpt' + suffix],
                                   ref['loss_kpt'] * w)
        torch.testing.assert_close(losses['loss_scale' + suffix],
                                   ref['loss_scale'])
        assert ref['loss_scale'] > 0


def test_plain_heatmap_loss_is_masked_mse():
    head = MODELS.build(_head_cfg(with_swahr=False))
    head.init_weights()
    feats, samples = _feats(), _samples()
    losses = head.loss(feats, samples)
    out = head.original_outputs(feats)[1]
    tgt = torch.stack([s.gt_fields.heatmaps[1] for s in samples])
    mask = torch.stack([s.gt_fields.heatmap_mask[1] for s in samples])
    ref = ((out - tgt).square() * mask).mean()
    torch.testing.assert_close(losses['loss_kpt_1_2'], ref)


def test_tag_loss_is_averaged_over_the_batch():
    head = MODELS.build(_head_cfg())
    head.init_weights()
    with torch.no_grad():
        head.final_layers[0].weight.normal_(std=0.3)
    feats1 = _feats(b=1)
    feats2 = (feats1[0].repeat(2, 1, 1, 1), )
    s = _samples(n_people=(3, ))
    l1 = head.loss(feats1, s)
    l2 = head.loss(feats2, s + copy.deepcopy(s))
    for name in ('loss_pull', 'loss_push', 'loss_kpt', 'loss_kpt_1_2'):
        assert float(l1[name]) > 0
        torch.testing.assert_close(l1[name], l2[name])
    # mmpose's AssociativeEmbeddingLoss sums over the images
    tags = head.split_output(head.original_outputs(feats2)[0], 0)[2]
    idx = [x.gt_instance_labels.keypoint_indices for x in s * 2]
    mm_pull, _ = AssociativeEmbeddingLoss()(tags, idx)
    mm_pull1, _ = AssociativeEmbeddingLoss()(tags[:1], idx[:1])
    torch.testing.assert_close(mm_pull, 2 * mm_pull1)
    torch.testing.assert_close(mm_pull1 * 0.001, l1['loss_pull'],
                               rtol=1e-4, atol=0)


def test_ae_loss_by_hand():
    """Two people, one tag each keypoint: pull is the mean squared deviation
    from each person's mean tag, push ``exp(-d^2)`` over the ordered pairs
    (no diagonal) / (N (N-1)) / 2; an image without people counts as 0."""
    K2, H, W = 2, 2, 3
    tags = torch.zeros(1, K2, H, W)
    # person 0: keypoint 0 at pixel 0 (tag 1), keypoint 1 at pixel 4 (tag 3)
    tags[0, 0].view(-1)[0] = 1.0
    tags[0, 1].view(-1)[4] = 3.0
    # person 1: keypoint 0 at pixel 5 (tag -1), keypoint 1 unlabelled
    tags[0, 0].view(-1)[5] = -1.0
    idx = torch.tensor([[[0, 1], [4, 1]], [[5, 1], [1, 0]]])
    loss = HigherHRNetAELoss(pull_loss_factor=1.0, push_loss_factor=1.0)
    pull, push = loss(tags, [idx])
    # means: 2 and -1; pull: ((1-2)^2 + (3-2)^2)/2 / 2 people
    torch.testing.assert_close(pull, torch.tensor(0.5))
    expect_push = 2 * np.exp(-9.0) / 2 * 0.5
    torch.testing.assert_close(push, torch.tensor(expect_push).float())
    empty = torch.zeros((0, K2, 2), dtype=torch.long)
    pull2, push2 = loss(tags.repeat(2, 1, 1, 1), [idx, empty])
    torch.testing.assert_close(pull2, pull / 2)
    torch.testing.assert_close(push2, push / 2)
    pull_m, push_m = HigherHRNetAELoss(
        loss_type='max', pull_loss_factor=1.0, push_loss_factor=1.0)(tags,
                                                                      [idx])
    torch.testing.assert_close(push_m, torch.tensor(0.0))
    pull.backward() if pull.requires_grad else None


# -------------------------------------------------------------------- codec
def test_codec_two_resolutions():
    codec = KEYPOINT_CODECS.build(dict(CODEC, sigma=2))
    kpts = np.array([[[10.9, 20.2], [127.9, 0.0], [-0.5, 3.0],
                      [130.0, 5.0]] + [[50.0, 50.0]] * (K - 4)])
    vis = np.ones((1, K), np.float32)
    vis[0, 4] = 0
    enc = codec.encode(kpts, vis)
    h4, h2 = enc['heatmaps']
    assert h4.shape == (K, 32, 32) and h2.shape == (K, 64, 64)
    # integer centre int(x * scale): 10.9 / 4 -> 2, 20.2 / 4 -> 5
    assert h4[0, 5, 2] == 1.0 and h4[0].max() == 1.0
    assert h2[0, 10, 5] == 1.0
    # -0.5 truncates to pixel 0 (as int() in the authors' generator)
    assert h4[2, 0, 0] == 1.0
    # outside the map: no target, not valid
    assert h4[3].max() == 0 and enc['keypoint_weights'][0, 3] == 0
    assert h4[4].max() == 0 and enc['keypoint_indices'][0, 4, 1] == 0
    # support: radius round(3 sigma + 1) = 7 pixels
    assert h2[0, 10, 5 + 7] > 0 and h2[0, 10, 5 + 8] == 0
    np.testing.assert_allclose(h2[0, 10, 6], np.exp(-1 / 8), rtol=1e-6)
    assert tuple(enc['keypoint_indices'][0, 0]) == (5 * 32 + 2, 1)
    assert tuple(enc['keypoint_indices'][0, 1]) == (0 * 32 + 31, 1)


def test_codec_pipeline_packs_both_levels():
    from mmcv.transforms import Compose
    cfg = Config.fromfile(TINY_CFG)
    from mmpose.registry import DATASETS
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    item = ds[0]
    s = item['data_samples']
    hms = s.gt_fields.heatmaps
    assert [tuple(h.shape) for h in hms] == [(K, 64, 64), (K, 128, 128)]
    masks = s.gt_fields.heatmap_mask
    assert [tuple(m.shape)[-2:] for m in masks] == [(64, 64), (128, 128)]
    idx = s.gt_instance_labels.keypoint_indices
    assert idx.ndim == 3 and idx.shape[1:] == (K, 2)
    assert Compose  # imported for the pipeline registry


# ------------------------------------------------------------------ predict
def test_predict_fallback_and_flip():
    head = MODELS.build(_head_cfg())
    head.init_weights()
    feats = _feats()
    samples = _samples()
    preds = head.predict(feats, samples, dict(flip_test=False))
    assert len(preds) == 2
    assert preds[0].keypoints.shape[1:] == (K, 2)
    flipped = (feats[0].flip(-1), )
    preds, fields = head.predict([feats, flipped], samples,
                                 dict(flip_test=True, output_heatmaps=True))
    assert len(preds) == 2 and fields[0].tags.shape[0] == 2 * K
    with pytest.raises(ValueError, match='flip_test'):
        head.predict(feats, samples, dict(flip_test=True))


def test_predict_calls_the_parser():
    calls = []

    @KEYPOINT_CODECS.register_module(force=True)
    class _TestParserForHigherHRNet:

        def __init__(self, tag='x'):
            self.tag = tag

        def decode_batch(self, outs, outs_flip, samples):
            calls.append((outs, outs_flip, samples))
            return [InstanceData(keypoints=np.zeros((0, K, 2)),
                                 keypoint_scores=np.zeros((0, K)),
                                 bbox_scores=np.zeros(0))] * len(samples)

    head = MODELS.build(_head_cfg(
        parser=dict(type='_TestParserForHigherHRNet', tag='y')))
    head.init_weights()
    feats, samples = _feats(), _samples()
    flipped = (feats[0].flip(-1), )
    preds = head.predict([feats, flipped], samples, dict(flip_test=True))
    assert len(preds) == 2
    outs, outs_flip, got = calls[-1]
    assert got is samples and len(outs) == 2 and len(outs_flip) == 2
    torch.testing.assert_close(outs[1], head.original_outputs(feats)[1])
    torch.testing.assert_close(outs_flip[0],
                               head.original_outputs(flipped)[0])
    head.predict(feats, samples, dict(flip_test=False))
    assert calls[-1][1] is None


def test_unregistered_parser_falls_back():
    with pytest.warns(UserWarning, match='not registered'):
        head = MODELS.build(_head_cfg(
            parser=dict(type='NoSuchParserRegistered123')))
    assert head.parser is None


# ------------------------------------------------------------- tiny config
@pytest.mark.parametrize('cfg_path', [TINY_CFG, TINY_PLAIN_CFG],
                         ids=['swahr', 'plain'])
def test_tiny_config_trains_with_runner(cfg_path, tmp_path):
    from mmengine.runner import Runner
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.max_epochs = 2
    cfg.train_cfg.val_interval = 2
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=100)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.visualizer = dict(type='Visualizer', vis_backends=[])
    cfg.log_level = 'WARNING'
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 'coco/AP' in metrics
    scalars = runner.message_hub.log_scalars
    assert np.isfinite(scalars['train/loss'].current())
    assert 'train/loss_kpt_1_2' in scalars


# ------------------------------------------- the original's loss and targets
def _orig_loss_fixture():
    path = FIXTURES / 'orig_loss.npz'
    if not path.exists():
        pytest.skip('tests/data/swahr/orig_loss.npz (the original\'s loss '
                    'step, tools/make_swahr_fixtures.py) is not there')
    import json
    meta = json.loads((FIXTURES / 'orig_loss.json').read_text())
    return np.load(path), meta


def _orig_joints_to_indices(joints: np.ndarray, hw: int) -> torch.Tensor:
    """The original's (30, K, 2) ``[k * H * W + y * W + x, vis]`` (packed
    slots) -> our (30, K, 2) ``[y * W + x, valid]`` (row k = keypoint k)."""
    P, K_ = joints.shape[:2]
    out = np.zeros((P, K_, 2), np.int64)
    for n, k_slot in zip(*np.nonzero(joints[..., 1] > 0)):
        idx = int(joints[n, k_slot, 0])
        out[n, idx // hw] = (idx % hw, 1)
    return torch.from_numpy(out)


def test_loss_equals_the_original_multilossfactory():
    """The head's losses on the original's outputs, targets, masks and
    joints equal the batch means of the original's per-image losses."""
    d, meta = _orig_loss_fixture()
    head = MODELS.build(_head_cfg(with_swahr=True))
    hw = d['output_0'].shape[-1] * d['output_0'].shape[-2]
    samples = []
    for b in range(d['output_0'].shape[0]):
        s = PoseDataSample()
        s.gt_fields = MultilevelPixelData(
            heatmaps=[torch.from_numpy(d[f'heatmaps_{i}'][b].astype(
                np.float32)) for i in range(2)],
            heatmap_mask=[torch.from_numpy(d[f'mask_{i}'][b][None])
                          for i in range(2)])
        s.gt_instance_labels = InstanceData(
            keypoint_indices=_orig_joints_to_indices(d['joints_0'][b], hw))
        samples.append(s)
    outs = [torch.from_numpy(d[f'output_{i}'].astype(np.float32))
            for i in range(2)]
    head.original_outputs = lambda feats: outs  # the original's outputs
    losses = head.loss(None, samples)
    for ours, theirs, i in (('loss_kpt', 'heatmaps_loss', 0),
                            ('loss_kpt_1_2', 'heatmaps_loss', 1),
                            ('loss_scale', 'scale_loss', 0),
                            ('loss_scale_1_2', 'scale_loss', 1),
                            ('loss_push', 'push_loss', 0),
                            ('loss_pull', 'pull_loss', 0)):
        expected = float(np.mean(meta[theirs][i]))
        assert float(losses[ours]) == pytest.approx(expected, rel=1e-4), ours


def test_codec_targets_equal_the_original_at_1_4():
    """Keypoints on the original's integer 1/4 positions, encoded by our
    codec, give the original's 1/4 heatmaps and joints."""
    d, meta = _orig_loss_fixture()
    size = int(meta['input_size'])
    out = int(meta['output_size'][0])
    codec = KEYPOINT_CODECS.build(dict(
        type='HigherHRNetAssociativeEmbedding', input_size=(size, size),
        heatmap_size=(out, out), sigma=float(meta['sigma']),
        decode_keypoint_order=ORDER))
    stride = size / out
    for b in range(d['joints_0'].shape[0]):
        idx = _orig_joints_to_indices(d['joints_0'][b], out * out).numpy()
        people = idx[..., 1].any(axis=1)
        idx = idx[people]
        xy = np.stack([idx[..., 0] % out, idx[..., 0] // out], -1)
        enc = codec.encode(xy * stride + 0.25, idx[..., 1].astype(np.float32))
        np.testing.assert_allclose(
            enc['heatmaps'][0], d['heatmaps_0'][b].astype(np.float32),
            atol=1e-3)
        np.testing.assert_array_equal(enc['keypoint_indices'], idx)
