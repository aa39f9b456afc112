"""Tests of SWAHRHead: scale branch, first-step equivalence, test-time path,
codecs, and a tiny top-down model that learns."""
import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.codecs import MSRAHeatmap
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

from posekit_plugins.models.heads import SWAHRHead

REPO = Path(__file__).parents[3]
K, IN_CH = 17, 32
INPUT_SIZE, HM_SIZE = (96, 128), (24, 32)
FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]


def _head_cfg(**kwargs):
    cfg = dict(
        type='SWAHRHead',
        in_channels=IN_CH,
        out_channels=K,
        deconv_out_channels=(16, 16),
        deconv_kernel_sizes=(4, 4),
        decoder=dict(type='MSRAHeatmap', input_size=INPUT_SIZE,
                     heatmap_size=HM_SIZE, sigma=1))
    cfg.update(kwargs)
    return cfg


def _batch(codec, n=3, seed=0):
    """Features (B, C, 8, 6) and data samples with encoded targets."""
    rng = np.random.default_rng(seed)
    feats = (torch.from_numpy(rng.normal(size=(n, IN_CH, 8, 6))).float(), )
    samples = []
    for _ in range(n):
        kpts = rng.uniform([0, 0], INPUT_SIZE, size=(1, K, 2))
        vis = (rng.uniform(size=(1, K)) > 0.2).astype(np.float32)
        enc = codec.encode(kpts, vis)
        s = PoseDataSample(metainfo=dict(
            flip_indices=FLIP, input_size=INPUT_SIZE,
            input_center=np.array([48., 64.]), input_scale=np.array([96.,
                                                                     128.])))
        s.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']))
        s.gt_instance_labels = InstanceData(keypoint_weights=torch.from_numpy(
            enc['keypoint_weights']).float())
        samples.append(s)
    return feats, samples


def _pair(loss=None):
    """A SWAHRHead and a plain mmpose HeatmapHead with the same weights."""
    torch.manual_seed(0)
    swahr = MODELS.build(_head_cfg(**({} if loss is None else dict(loss=loss))))
    swahr.init_weights()
    plain = MODELS.build(_head_cfg(type='HeatmapHead', loss=dict(
        type='KeypointMSELoss', use_target_weight=True)))
    missing, unexpected = plain.load_state_dict(swahr.state_dict(), strict=False)
    assert not missing and all(k.startswith('scale_layers') for k in unexpected)
    return swahr, plain


def test_scale_branch_structure_and_zero_init():
    head = MODELS.build(_head_cfg())
    head.init_weights()  # default init_cfg: Normal(std=0.001) on every Conv2d
    conv1, bn, relu, dw = head.scale_layers
    assert conv1.kernel_size == (1, 1) and conv1.out_channels == K
    assert isinstance(bn, torch.nn.BatchNorm2d)
    assert isinstance(relu, torch.nn.ReLU)
    assert dw.kernel_size == (9, 9) and dw.groups == K and dw.padding == (4, 4)
    assert (dw.weight == 0).all() and (dw.bias == 0).all()
    assert conv1.weight.abs().sum() > 0 and head.final_layer.weight.abs().sum() > 0
    # the init really ran: std 0.001, not torch's default
    assert head.final_layer.weight.std() < 0.01
    feats = (torch.randn(2, IN_CH, 8, 6), )
    heatmaps, scales = head.forward_train(feats)
    assert heatmaps.shape == scales.shape == (2, K, 32, 24)
    assert (scales == 0).all()
    # a repeated init_weights must not wipe trained weights
    with torch.no_grad():
        dw.weight.fill_(0.5)
    head.init_weights()
    assert (dw.weight == 0.5).all()


def test_zero_init_survives_estimator_init():
    model = MODELS.build(dict(
        type='TopdownPoseEstimator',
        backbone=dict(type='ResNet', depth=18),
        head=_head_cfg(in_channels=512)))
    model.init_weights()
    assert (model.head.scale_layers[-1].weight == 0).all()


def test_first_loss_equals_weighted_mse_and_grads_match():
    """With the zero-initialised branch s = 0, so G_s = G exactly. Hence
    - with gamma=None (W = 1): loss_kpt equals mmpose's KeypointMSELoss of a
      HeatmapHead with the same weights, loss_scale is 0 and the gradients of
      all shared parameters are identical;
    - with the default gamma=0.01: loss_kpt equals the W-weighted MSE against
      the unscaled G, W = |1-P| G^0.01 + |P| (1 - G^0.01); that is not the
      plain MSE (W != 1).
    """
    codec = MSRAHeatmap(input_size=INPUT_SIZE, heatmap_size=HM_SIZE, sigma=1)
    feats, samples = _batch(codec)
    swahr, plain = _pair(loss=dict(type='SWAHRLoss', gamma=None))
    ls = swahr.loss(feats, samples)
    lp = plain.loss(feats, samples)
    torch.testing.assert_close(ls['loss_kpt'], lp['loss_kpt'], rtol=0, atol=0)
    assert ls['loss_scale'].item() == 0.0
    torch.testing.assert_close(ls['acc_pose'], lp['acc_pose'], check_dtype=False)
    (ls['loss_kpt'] + ls['loss_scale']).backward()
    lp['loss_kpt'].backward()
    sp = dict(swahr.named_parameters())
    for name, p in plain.named_parameters():
        torch.testing.assert_close(sp[name].grad, p.grad, rtol=1e-6, atol=0)
    # the scale branch's last conv learns from the first step on
    assert swahr.scale_layers[-1].weight.grad.abs().sum() > 0

    swahr, plain = _pair()
    ls = swahr.loss(feats, samples)
    P = plain.forward(feats).detach()
    G = torch.stack([s.gt_fields.heatmaps for s in samples])
    w = torch.cat([s.gt_instance_labels.keypoint_weights for s in samples])
    gp = G**0.01
    wt = (1 - P).abs() * gp + P.abs() * (1 - gp)
    expected = ((P - G)**2 * wt * w[:, :, None, None]).mean()
    torch.testing.assert_close(ls['loss_kpt'], expected)
    assert ls['loss_scale'].item() == 0.0
    # at init P ~ 0, so W ~ G^0.01 < 1 on the Gaussians and ~0 off them:
    # slightly below the plain MSE, not equal to it
    plain_mse = ((P - G)**2 * w[:, :, None, None]).mean()
    assert ls['loss_kpt'] < plain_mse * (1 - 1e-4)


@pytest.mark.parametrize('flip', [False, True])
def test_predict_drops_scales(flip):
    codec = MSRAHeatmap(input_size=INPUT_SIZE, heatmap_size=HM_SIZE, sigma=1)
    feats, samples = _batch(codec, seed=1)
    swahr, plain = _pair()
    # non-zero scale weights: predictions still must not depend on them
    with torch.no_grad():
        swahr.scale_layers[-1].weight.normal_()
    calls = []
    swahr.scale_layers.register_forward_hook(lambda *a: calls.append(1))
    swahr.eval()
    plain.eval()
    test_cfg = dict(flip_test=flip, output_heatmaps=True)
    inp = [feats, feats] if flip else feats
    with torch.no_grad():
        preds_s, hm_s = swahr.predict(inp, samples, test_cfg)
        preds_p, hm_p = plain.predict(inp, samples, test_cfg)
    assert not calls
    for a, b, ha, hb in zip(preds_s, preds_p, hm_s, hm_p):
        np.testing.assert_array_equal(a.keypoints, b.keypoints)
        np.testing.assert_array_equal(a.keypoint_scores, b.keypoint_scores)
        torch.testing.assert_close(ha.heatmaps, hb.heatmaps, rtol=0, atol=0)
    swahr.train()
    swahr.loss(feats, samples)
    assert calls


def test_loss_uses_heatmap_mask_when_given():
    codec = MSRAHeatmap(input_size=INPUT_SIZE, heatmap_size=HM_SIZE, sigma=1)
    feats, samples = _batch(codec, seed=2)
    swahr, _ = _pair()
    base = swahr.loss(feats, samples)['loss_kpt']
    for s in samples:
        s.gt_fields.heatmap_mask = torch.zeros(1, *HM_SIZE[::-1])
    assert swahr.loss(feats, samples)['loss_kpt'].item() == 0.0
    assert base.item() > 0


def test_with_dark_codec():
    if KEYPOINT_CODECS.get('DARKHeatmap') is None:
        pytest.skip('DARKHeatmap codec not available')
    codec_cfg = dict(type='DARKHeatmap', input_size=INPUT_SIZE,
                     heatmap_size=HM_SIZE, sigma=1, blur_kernel_size=3)
    codec = KEYPOINT_CODECS.build(copy.deepcopy(codec_cfg))
    feats, samples = _batch(codec, seed=3)
    head = MODELS.build(_head_cfg(decoder=codec_cfg))
    head.init_weights()
    losses = head.loss(feats, samples)
    assert torch.isfinite(losses['loss_kpt']) and losses['loss_scale'] == 0
    head.eval()
    with torch.no_grad():
        preds = head.predict(feats, samples)
    assert preds[0].keypoints.shape == (1, K, 2)
    assert np.isfinite(preds[0].keypoints).all()


def test_acc_pose_matches_mmpose_on_device_version():
    from mmpose.evaluation.functional import pose_pck_accuracy

    from posekit_plugins.models.heads.swahr_head import pck_accuracy_torch
    g = torch.Generator().manual_seed(0)
    for trial in range(20):
        n, k, h, w = 3, 5, 12 + trial % 3, 10
        out = torch.rand(n, k, h, w, generator=g)
        tgt = torch.zeros(n, k, h, w)
        # targets near the predicted peaks, some exactly on them
        idx = out.flatten(2).argmax(-1) + torch.randint(-2, 3, (n, k),
                                                        generator=g)
        tgt.view(n, k, -1).scatter_(2, idx.clamp(0, h * w - 1)[..., None], 1.)
        out[0, 1] = -1.0  # no positive maximum: location -1
        tgt[1, 2] = 0.0
        mask = torch.rand(n, k, generator=g) > 0.3
        mask[:, 3] = False  # a keypoint with no valid instance
        if trial == 0:
            mask[:] = False
        _, ref, _ = pose_pck_accuracy(out.numpy(), tgt.numpy(), mask.numpy())
        got = pck_accuracy_torch(out, tgt, mask)
        assert got.item() == pytest.approx(float(ref), abs=1e-7), trial


def test_bad_scale_kernel_raises():
    with pytest.raises(ValueError, match='odd'):
        MODELS.build(_head_cfg(scale_kernel_size=4))


def test_registered_and_subclass():
    from mmpose.models.heads import HeatmapHead
    head = MODELS.build(_head_cfg())
    assert isinstance(head, SWAHRHead) and isinstance(head, HeatmapHead)


def test_tiny_topdown_swahr_model_overfits(tmp_path):
    """The tiny SWAHR config (ResNet-18, 128x96, from scratch, no
    augmentation) fits the 4 shipped images within 40 iterations: COCO AP
    on them far above chance (seen here: 0.861; docs/swahr.md has the plain
    model beside it)."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(
        str(REPO / 'configs' /
            'td-hm_res18_swahr-1xb12-300e_coco-tiny-128x96.py'))
    assert cfg.model.head.type == 'SWAHRHead'
    assert cfg.model.head.loss.type == 'SWAHRLoss'
    cfg.work_dir = str(tmp_path)
    # a visualizer of our own: mmpose's runtime names every one 'visualizer',
    # so a runner of an earlier test would lend us its work dir
    cfg.visualizer.name = 'test_td_swahr_overfit'
    cfg.train_cfg = dict(by_epoch=True, max_epochs=40)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1000, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert metrics['coco/AP'] > 0.5, metrics
