"""AESWAHRHead: SWAHR + associative embedding, bottom-up."""
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData, PixelData
from mmpose.models.losses import AssociativeEmbeddingLoss, KeypointMSELoss
from mmpose.registry import KEYPOINT_CODECS, MODELS
from mmpose.structures import PoseDataSample

from posekit_plugins.models.heads import AESWAHRHead

K, C = 17, 16
ORDER = [0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16]
FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
CODEC = dict(type='AssociativeEmbeddingDARK', input_size=(128, 128),
             heatmap_size=(32, 32), sigma=1, decode_keypoint_order=ORDER)


def _head_cfg(**kwargs):
    cfg = dict(type='AESWAHRHead', in_channels=C, num_keypoints=K,
               deconv_out_channels=None,
               tag_loss=dict(type='AssociativeEmbeddingLoss',
                             loss_weight=0.001),
               decoder=CODEC)
    cfg.update(kwargs)
    return cfg


def _batch(n_people=(2, 3), seed=0):
    """Features (B, C, 32, 32) and samples with encoded AE targets and an
    ignore mask."""
    rng = np.random.default_rng(seed)
    codec = KEYPOINT_CODECS.build(CODEC)
    feats = (torch.from_numpy(rng.normal(size=(len(n_people), C, 32, 32)))
             .float(), )
    samples = []
    for n in n_people:
        kpts = rng.uniform(4, 124, size=(n, K, 2))
        vis = (rng.uniform(size=(n, K)) > 0.2).astype(np.float32)
        enc = codec.encode(kpts, vis)
        mask = np.ones((1, 32, 32), bool)
        mask[:, :8, :8] = False
        s = PoseDataSample(metainfo=dict(
            flip_indices=FLIP, input_size=(128, 128)))
        s.gt_fields = PixelData(heatmaps=torch.from_numpy(enc['heatmaps']),
                                heatmap_mask=torch.from_numpy(mask))
        s.gt_instance_labels = InstanceData(
            keypoint_weights=torch.from_numpy(enc['keypoint_weights']),
            keypoint_indices=torch.from_numpy(enc['keypoint_indices']))
        samples.append(s)
    return feats, samples


def test_zero_init_and_shapes():
    head = MODELS.build(_head_cfg())
    head.init_weights()
    assert isinstance(head, AESWAHRHead)
    assert (head.scale_layers[-1].weight == 0).all()
    feats, _ = _batch()
    heatmaps, tags, scales = head.forward_train(feats)
    assert heatmaps.shape == tags.shape == scales.shape == (2, K, 32, 32)
    assert (scales == 0).all()
    h2, t2 = head.forward(feats)
    torch.testing.assert_close(h2, heatmaps)
    torch.testing.assert_close(t2, tags)


def test_loss_parts_equal_references():
    """With s = 0 and gamma=None the heatmap part is mmpose's masked MSE
    (no keypoint weights); the tag parts are mmpose's AE loss."""
    torch.manual_seed(0)
    head = MODELS.build(_head_cfg(
        keypoint_loss=dict(type='SWAHRLoss', gamma=None)))
    head.init_weights()
    feats, samples = _batch()
    losses = head.loss(feats, samples)
    assert set(losses) == {'loss_kpt', 'loss_scale', 'loss_pull', 'loss_push'}
    heatmaps, tags, _ = head.forward_train(feats)
    gt = torch.stack([s.gt_fields.heatmaps for s in samples])
    mask = torch.stack([s.gt_fields.heatmap_mask for s in samples])
    ref = KeypointMSELoss()(heatmaps, gt, None, mask)
    torch.testing.assert_close(losses['loss_kpt'], ref)
    assert losses['loss_scale'] == 0
    pull, push = AssociativeEmbeddingLoss(loss_weight=0.001)(
        tags, [s.gt_instance_labels.keypoint_indices for s in samples])
    torch.testing.assert_close(losses['loss_pull'], pull)
    torch.testing.assert_close(losses['loss_push'], push)
    assert losses['loss_push'] > 0  # several people per image
    # the ignore mask excludes its pixels
    out = heatmaps.detach().clone()
    out[..., :8, :8] += 5
    plain = MODELS.build(dict(type='SWAHRLoss'))
    zeros = torch.zeros_like(out)
    torch.testing.assert_close(plain(out, gt, zeros, None, mask),
                               plain(heatmaps.detach(), gt, zeros, None, mask))


def test_mmpose_ae_head_cannot_train_several_people():
    """What this head fixes: mmpose's head passes per-person keypoint
    weights (N, K) to a per-image heatmap loss (B, K, H, W)."""
    feats, samples = _batch(n_people=(2, 3))
    mm = MODELS.build(dict(
        type='AssociativeEmbeddingHead', in_channels=C, num_keypoints=K,
        deconv_out_channels=None,
        keypoint_loss=dict(type='KeypointMSELoss', use_target_weight=True)))
    with pytest.raises(AssertionError, match='target_weights'):
        mm.loss(feats, samples)
    ours = MODELS.build(_head_cfg())
    assert torch.isfinite(sum(ours.loss(feats, samples).values()))


def test_missing_targets_raise():
    head = MODELS.build(_head_cfg())
    feats, samples = _batch()
    del samples[0].gt_instance_labels.keypoint_indices
    with pytest.raises(KeyError, match='keypoint_indices'):
        head.loss(feats, samples)
    feats, samples = _batch()
    del samples[1].gt_fields.heatmap_mask
    with pytest.raises(ValueError, match='heatmap_mask'):
        head.loss(feats, samples)


def test_predict_matches_mmpose_head_and_skips_scales():
    torch.manual_seed(0)
    ours = MODELS.build(_head_cfg())
    ours.init_weights()
    with torch.no_grad():
        ours.scale_layers[-1].weight.normal_()
        # strong, well separated responses so that decoding finds people
        ours.final_layer.weight.normal_()
    mm = MODELS.build(dict(
        type='AssociativeEmbeddingHead', in_channels=C, num_keypoints=K,
        deconv_out_channels=None, decoder=CODEC))
    mm.load_state_dict(ours.state_dict(), strict=False)
    calls = []
    ours.scale_layers.register_forward_hook(lambda *a: calls.append(1))
    ours.eval()
    mm.eval()
    feats, samples = _batch()
    for flip in (False, True):
        with torch.no_grad():
            # backbones give a tuple: mmpose's head asserts a list without
            # flip test, ours takes both
            p1 = ours.predict([feats, feats] if flip else feats, samples,
                              dict(flip_test=flip))
            p2 = mm.predict([feats, feats] if flip else list(feats),
                            samples, dict(flip_test=flip))
        for a, b in zip(p1, p2):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            np.testing.assert_array_equal(a.keypoint_scores,
                                          b.keypoint_scores)
    assert sum(len(p.keypoints) for p in p1) > 0
    assert not calls


def test_tiny_bottomup_model_overfits(tmp_path):
    """The tiny bottom-up config (slim HRNet from scratch, 256x256, AE tags,
    SWAHR heatmaps, DARK-refined grouping) trained on the 4 shipped images
    reaches a clearly non-trivial COCO AP on them within 60 iterations (seen
    here: AP 0.04 after 25, 0.65 after 50 and a plateau near 0.66)."""
    from pathlib import Path

    from mmengine.config import Config
    from mmengine.runner import Runner

    repo = Path(__file__).parents[3]
    cfg = Config.fromfile(
        str(repo / 'configs' /
            'ae_hrnet-tiny_swahr-1xb4-300e_coco-tiny-256x256.py'))
    assert cfg.model.head.type == 'AESWAHRHead'
    cfg.work_dir = str(tmp_path)
    # a visualizer of our own: mmpose's runtime names every one 'visualizer',
    # so a runner of an earlier test would lend us its work dir
    cfg.visualizer.name = 'test_ae_swahr_overfit'
    cfg.train_cfg = dict(by_epoch=True, max_epochs=60)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=1000, save_last=False)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=10)
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert metrics['coco/AP'] > 0.4, metrics
