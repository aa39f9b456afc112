"""AssociativeEmbeddingDARK: packs tag targets; groups and DARK-refines."""
import numpy as np
import pytest
import torch
from mmpose.codecs import AssociativeEmbedding
from mmpose.datasets.transforms import GenerateTarget, PackPoseInputs
from mmpose.registry import KEYPOINT_CODECS

from posekit_plugins.codecs import AssociativeEmbeddingDARK

K = 17
ORDER = [0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16]
KW = dict(input_size=(256, 256), heatmap_size=(64, 64), sigma=2,
          decode_keypoint_order=ORDER, decode_topk=5)


def _people(rng, n=2):
    """n people (heatmap px) whose same-type keypoints lie far apart."""
    base = rng.uniform(8, 24, size=(K, 2))
    return np.stack([base + [i * 30, (i % 2) * 30] for i in range(n)]) + \
        rng.uniform(0, 1, size=(n, K, 2))


def _maps(people, sigma=2.0, tags=(0.0, 3.0)):
    """Float-centred Gaussians (max over people) and per-keypoint tag maps
    holding each person's tag around their keypoints."""
    H = W = 64
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    hm = np.zeros((K, H, W))
    tag = np.zeros((K, H, W))
    dist = np.full((K, H, W), np.inf)
    for p, t in zip(people, tags):
        for k in range(K):
            d2 = (x - p[k, 0])**2 + (y - p[k, 1])**2
            hm[k] = np.maximum(hm[k], np.exp(-d2 / (2 * sigma**2)))
            closer = d2 < dist[k]
            tag[k][closer] = t
            dist[k][closer] = d2[closer]
    return (torch.from_numpy(hm).float()[None],
            torch.from_numpy(tag).float()[None])


def _match_error(pred, people, scale):
    """Mean distance (heatmap px) of each true person to the nearest
    predicted one."""
    errs = []
    for p in people:
        d = np.linalg.norm(pred / scale - p[None], axis=-1).mean(axis=-1)
        errs.append(d.min())
    return float(np.mean(errs))


def test_decode_groups_and_refines_better_than_mmpose():
    rng = np.random.default_rng(0)
    people = _people(rng)
    hm, tags = _maps(people)
    ours = AssociativeEmbeddingDARK(decode_blur_kernel_size=11, **KW)
    theirs = AssociativeEmbedding(**KW)
    kpts, scores, inst = ours.batch_decode(hm, tags)
    kpts_m, _, _ = theirs.batch_decode(hm, tags)
    assert kpts[0].shape == (2, K, 2) and scores[0].shape == (2, K)
    assert inst[0].shape == (2, ) and (scores[0] > 0.9).all()
    scale = ours.scale_factor
    err = _match_error(kpts[0], people, scale)
    err_m = _match_error(kpts_m[0], people, scale)
    # DARK recovers float Gaussian centres to ~1e-3 px here (seen: 2e-4);
    # mmpose's quarter-pixel shift is off by ~0.2 px
    assert err < 0.01, err
    assert err_m > 0.1, err_m
    # the two people are told apart by their tags
    assert np.linalg.norm(kpts[0][0] - kpts[0][1], axis=-1).min() > 20 * 4


def test_decode_does_not_modify_inputs_and_handles_empty():
    codec = AssociativeEmbeddingDARK(**KW)
    hm, tags = _maps(_people(np.random.default_rng(1)))
    hm0, tags0 = hm.clone(), tags.clone()
    codec.batch_decode(hm, tags)
    assert torch.equal(hm, hm0) and torch.equal(tags, tags0)
    kpts, scores, inst = codec.batch_decode(torch.zeros(2, K, 64, 64),
                                            torch.zeros(2, K, 64, 64))
    assert [k.shape for k in kpts] == [(0, K, 2)] * 2
    with pytest.raises(ValueError, match='match'):
        codec.batch_decode(hm, tags[..., :32])


def test_packs_keypoint_indices_for_the_tag_loss():
    rng = np.random.default_rng(2)
    kpts = _people(rng, n=3) * 4  # input px
    vis = np.ones((3, K), np.float32)
    vis[1, 5] = 0
    results = dict(keypoints=kpts.astype(np.float32), keypoints_visible=vis,
                   img=np.zeros((256, 256, 3), np.uint8))
    cfg = dict(type='AssociativeEmbeddingDARK', **KW)
    packed = PackPoseInputs()(GenerateTarget(encoder=cfg)(dict(results)))
    labels = packed['data_samples'].gt_instance_labels
    enc = KEYPOINT_CODECS.build(cfg).encode(kpts, vis)
    assert labels.keypoint_indices.shape == (3, K, 2)
    np.testing.assert_array_equal(labels.keypoint_indices.numpy(),
                                  enc['keypoint_indices'])
    assert labels.keypoint_indices[1, 5, 1] == 0
    # mmpose's codec leaves them out: its AE head cannot train
    packed_m = PackPoseInputs()(GenerateTarget(
        encoder=dict(cfg, type='AssociativeEmbedding'))(dict(results)))
    assert 'keypoint_indices' not in packed_m['data_samples'].gt_instance_labels


def test_default_kernel_follows_sigma():
    assert AssociativeEmbeddingDARK(**dict(KW, sigma=1)) \
        .decode_blur_kernel_size == 3
    assert AssociativeEmbeddingDARK(**KW).decode_blur_kernel_size == 11
    with pytest.raises(ValueError):
        AssociativeEmbeddingDARK(decode_blur_kernel_size=4, **KW)
