"""HigherHRNet + SWAHR training loss against the original's
``MultiLossFactory`` (greatlog/SWAHR-HumanPose), one training step stored in
``tests/data/swahr/orig_loss.*`` by ``tools/make_swahr_fixtures.py``: two
64x64 images, the original's targets (heatmaps at 1/4 and 1/2, float16),
ignore masks and joints (``JointsGenerator``: per person the visible joints
packed in front as ``(k * res^2 + y * res + x, 1)``), the model outputs
(channels ``[scale K, heatmaps K, tags K]`` at 1/4, ``[scale K, heatmaps K]``
at 1/2, float16) and the per-image losses (factors applied).

1. Our codec (``HigherHRNetAssociativeEmbedding`` through ``GenerateTarget``
   and ``PackPoseInputs``) on keypoints placed in the original's target
   pixels gives the original's heatmaps (both resolutions) and joints.
2. ``AEHigherHRNetHead.loss`` on the stored outputs with those targets and
   the original's masks gives the original's heatmap (SWAHR) and scale
   losses per resolution and the push / pull losses (batch means of the
   per-image values, as the original's trainer takes them), to 1e-4
   relative.
"""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmpose.registry import MODELS

DATA = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                'data', 'swahr')
CONFIG = osp.join(DATA, 'tiny_config.py')
RTOL = 1e-4


@pytest.fixture(scope='module')
def fixture():
    z = np.load(osp.join(DATA, 'orig_loss.npz'))
    with open(osp.join(DATA, 'orig_loss.json')) as f:
        meta = json.load(f)
    return z, meta


def decode_joints(joints: np.ndarray, res: int, num_keypoints: int):
    """The original's joints (P, K, 2) of one image -> per person and
    keypoint the integer target pixel (x, y) and visibility."""
    P = joints.shape[0]
    xy = np.zeros((P, num_keypoints, 2), np.int64)
    vis = np.zeros((P, num_keypoints), np.float32)
    for p in range(P):
        for idx, v in joints[p]:
            if v > 0:
                k, pos = divmod(int(idx), res * res)
                assert vis[p, k] == 0
                xy[p, k] = (pos % res, pos // res)
                vis[p, k] = 1
    return xy, vis


def codec_cfg(meta):
    size = meta['input_size']
    return dict(type='HigherHRNetAssociativeEmbedding',
                input_size=(size, size),
                heatmap_size=(meta['output_size'][0], ) * 2,
                sigma=meta['sigma'], num_resolutions=len(meta['output_size']),
                center_mode='trunc')


def data_samples(z, meta, K=17):
    """Targets from our codec (keypoints at the centres of the original's
    1/2-resolution target pixels, which also fall in its 1/4 pixels) and
    the original's masks, packed as the training pipeline packs them."""
    size = meta['input_size']
    res = meta['output_size']
    pipeline = Compose([
        dict(type='GenerateTarget', encoder=codec_cfg(meta)),
        dict(type='PackPoseInputs')
    ])
    samples = []
    for b in range(z['input'].shape[0]):
        xy, vis = decode_joints(z[f'joints_{len(res) - 1}'][b], res[-1], K)
        f = size / res[-1]
        keypoints = (xy + 0.5) * f
        results = dict(
            img=np.zeros((size, size, 3), np.uint8), img_shape=(size, size),
            keypoints=keypoints.astype(np.float32), keypoints_visible=vis,
            heatmap_mask=[z[f'mask_{r}'][b] for r in range(len(res))])
        samples.append(pipeline(results)['data_samples'])
    return samples


def test_codec_targets_equal_original(fixture):
    z, meta = fixture
    res = meta['output_size']
    K = z['heatmaps_0'].shape[1]
    for b, sample in enumerate(data_samples(z, meta, K)):
        heatmaps = sample.gt_fields.heatmaps
        assert len(heatmaps) == len(res)
        for r in range(len(res)):
            ours = heatmaps[r].numpy()
            ref = z[f'heatmaps_{r}'][b]
            # the original's targets are stored as float16
            np.testing.assert_array_equal(ours.astype(np.float16), ref)
            np.testing.assert_allclose(ours, ref.astype(np.float32),
                                       atol=2e-4)
        # tag targets: same people, keypoints and pixels as the 1/4 joints
        xy0, vis0 = decode_joints(z['joints_0'][b], res[0], K)
        ind = sample.gt_instance_labels.keypoint_indices.numpy()
        np.testing.assert_array_equal(ind[..., 1], vis0)
        np.testing.assert_array_equal(
            ind[..., 0], (xy0[..., 1] * res[0] + xy0[..., 0]) * vis0)


def test_head_loss_equals_original(fixture):
    z, meta = fixture
    cfg = Config.fromfile(CONFIG)
    head = MODELS.build(cfg.model.head)
    lc = meta['loss_cfg']
    assert list(head.heatmap_loss_weights) == lc['HEATMAPS_LOSS_FACTOR']
    assert head.tag_loss.loss_type == lc['AE_LOSS_TYPE']
    assert head.tag_loss.push_loss_factor == lc['PUSH_LOSS_FACTOR'][0]
    assert head.tag_loss.pull_loss_factor == lc['PULL_LOSS_FACTOR'][0]
    assert list(head.with_ae_loss) == lc['WITH_AE_LOSS']

    outputs = [
        torch.from_numpy(z[f'output_{r}'].astype(np.float32))
        for r in range(len(meta['output_size']))
    ]
    # the stored outputs stand for the head's forward
    head.original_outputs = lambda feats: outputs
    samples = data_samples(z, meta, head.num_keypoints)
    # the original's loss ran on its float16-rounded targets (equal to ours
    # rounded, see above): use those values
    for b, s in enumerate(samples):
        for r, hm in enumerate(s.gt_fields.heatmaps):
            hm.copy_(torch.from_numpy(
                z[f'heatmaps_{r}'][b].astype(np.float32)))
    with torch.no_grad():
        losses = head.loss(None, samples)

    def ref(name, r=0):
        return float(np.mean(meta[name][r]))

    expected = dict(
        loss_kpt=ref('heatmaps_loss', 0),
        loss_scale=ref('scale_loss', 0),
        loss_kpt_1_2=ref('heatmaps_loss', 1),
        loss_scale_1_2=ref('scale_loss', 1),
        loss_push=ref('push_loss', 0),
        loss_pull=ref('pull_loss', 0))
    assert set(losses) == set(expected)
    for name, value in expected.items():
        assert value > 0, name
        np.testing.assert_allclose(float(losses[name]), value, rtol=RTOL,
                                   err_msg=name)


def test_tag_loss_per_image_equals_original(fixture):
    """The push / pull losses of each image alone (the batch mean hides
    compensating errors)."""
    z, meta = fixture
    cfg = Config.fromfile(CONFIG)
    tag_loss = MODELS.build(cfg.model.head.tag_loss)
    K = z['heatmaps_0'].shape[1]
    tags = torch.from_numpy(z['output_0'][:, 2 * K:].astype(np.float32))
    samples = data_samples(z, meta, K)
    for b, s in enumerate(samples):
        pull, push = tag_loss(tags[b:b + 1],
                              [s.gt_instance_labels.keypoint_indices])
        np.testing.assert_allclose(float(pull), meta['pull_loss'][0][b],
                                   rtol=RTOL)
        np.testing.assert_allclose(float(push), meta['push_loss'][0][b],
                                   rtol=RTOL)
