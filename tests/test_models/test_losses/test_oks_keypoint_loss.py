"""OKSKeypointLoss against pycocotools' COCOeval.computeOks."""
import copy

import numpy as np
import pytest
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from posekit_plugins.models.losses import OKSKeypointLoss

COCO_SIGMAS = np.array([
    .26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87,
    .87, .89, .89
]) / 10.0


def random_persons(rng, n, k, with_invisible_rows=True):
    """Random persons: keypoints around a box, visibility in {0, 1, 2}."""
    centre = rng.uniform(50, 500, size=(n, 1, 2))
    size = rng.uniform(10, 200, size=(n, 1, 2))
    gt = centre + rng.uniform(-0.5, 0.5, size=(n, k, 2)) * size
    # predictions from exact to far off, relative to the person's size
    noise_scale = rng.choice([0.0, 0.01, 0.05, 0.2, 1.0], size=(n, 1, 1))
    pred = gt + rng.normal(size=(n, k, 2)) * size * noise_scale
    vis = rng.integers(0, 3, size=(n, k)).astype(np.float64)
    if with_invisible_rows:
        vis[0] = 0  # a person with no labelled keypoint
    area = np.prod(size[:, 0], axis=1) * rng.uniform(0.3, 1.0, size=n)
    return pred, gt, vis, area, size[:, 0]


def pycocotools_oks(pred, gt, vis, area, box_wh, sigmas):
    """OKS of pred i against gt i, each pair in its own image."""
    n, k, _ = gt.shape
    gt_ann, dt_ann = [], []
    for i in range(n):
        x0, y0 = gt[i].min(0)
        g = np.concatenate([gt[i], vis[i][:, None]], 1).reshape(-1)
        gt_ann.append(
            dict(id=i + 1, image_id=i + 1, category_id=1, iscrowd=0,
                 area=float(area[i]), num_keypoints=int((vis[i] > 0).sum()),
                 bbox=[float(x0), float(y0), *map(float, box_wh[i])],
                 keypoints=g.tolist()))
        d = np.concatenate([pred[i], np.ones((k, 1))], 1).reshape(-1)
        dt_ann.append(
            dict(image_id=i + 1, category_id=1, score=1.0,
                 keypoints=d.tolist()))
    coco_gt = COCO()
    coco_gt.dataset = dict(
        images=[dict(id=i + 1, width=1000, height=1000) for i in range(n)],
        annotations=gt_ann,
        categories=[dict(id=1, name='person')])
    coco_gt.createIndex()
    coco_dt = coco_gt.loadRes(copy.deepcopy(dt_ann))
    ev = COCOeval(coco_gt, coco_dt, 'keypoints')
    ev.params.kpt_oks_sigmas = np.asarray(sigmas)
    ev._prepare()
    return np.array([ev.computeOks(i + 1, 1)[0, 0] for i in range(n)])


@pytest.mark.parametrize('k,sigmas', [(17, COCO_SIGMAS),
                                      (5, [0.03, 0.05, 0.08, 0.1, 0.025])])
def test_oks_equals_pycocotools(k, sigmas):
    rng = np.random.default_rng(k)
    pred, gt, vis, area, box_wh = random_persons(rng, 40, k)
    ref = pycocotools_oks(pred, gt, vis, area, box_wh, sigmas)

    loss = OKSKeypointLoss(sigmas=sigmas, reduction='none').double()
    args = [torch.from_numpy(a) for a in (pred, gt, (vis > 0) * 1.0, area)]
    oks = loss.oks(*args).numpy()
    has_vis = (vis > 0).any(1)
    # persons with a labelled keypoint: identical to the metric
    np.testing.assert_allclose(oks[has_vis], ref[has_vis], rtol=0, atol=1e-12)
    assert np.ptp(ref[has_vis]) > 0.5  # the sample spans good and bad OKS
    # the losses are 1 - OKS, 1 - OKS^2, -log OKS of the same numbers
    per_inst = loss(*args).numpy()
    np.testing.assert_allclose(per_inst[has_vis], 1 - ref[has_vis], atol=1e-12)
    assert (per_inst[~has_vis] == 0).all()
    sq = OKSKeypointLoss(sigmas=sigmas, mode='square', reduction='none')
    np.testing.assert_allclose(
        sq.double()(*args).numpy()[has_vis], 1 - ref[has_vis]**2, atol=1e-12)
    lg = OKSKeypointLoss(sigmas=sigmas, mode='log', reduction='none').double()
    finite_ref = has_vis & (ref > 1e-300)
    np.testing.assert_allclose(
        lg(*args).numpy()[finite_ref], -np.log(ref[finite_ref]), rtol=1e-10)


def test_metainfo_sigmas_and_reductions():
    loss = OKSKeypointLoss(metainfo='configs/_base_/datasets/coco.py')
    np.testing.assert_allclose(loss.sigmas.numpy(), COCO_SIGMAS, rtol=1e-12)
    rng = np.random.default_rng(0)
    pred, gt, vis, area, _ = random_persons(rng, 10, 17)
    args = [torch.from_numpy(a) for a in (pred, gt, (vis > 0) * 1.0, area)]
    per = OKSKeypointLoss(
        sigmas=COCO_SIGMAS, reduction='none').double()(*args)
    valid = torch.from_numpy((vis > 0).any(1))
    mean = OKSKeypointLoss(
        sigmas=COCO_SIGMAS, reduction='mean', loss_weight=3.0).double()(*args)
    total = OKSKeypointLoss(
        sigmas=COCO_SIGMAS, reduction='sum').double()(*args)
    # mean over the persons with a labelled keypoint, times loss_weight
    assert torch.isclose(mean, 3.0 * per[valid].mean())
    assert torch.isclose(total, per.sum())


@pytest.mark.parametrize('mode', ['linear', 'square', 'log'])
def test_gradient_points_to_target(mode):
    rng = np.random.default_rng(1)
    pred, gt, vis, area, _ = random_persons(rng, 20, 17)
    pred_t = torch.from_numpy(pred).requires_grad_(True)
    w = torch.from_numpy((vis > 0) * 1.0)
    loss = OKSKeypointLoss(sigmas=COCO_SIGMAS, mode=mode).double()
    loss(pred_t, torch.from_numpy(gt), w, torch.from_numpy(area)).backward()
    grad = pred_t.grad.numpy()
    to_target = gt - pred
    # no gradient on unlabelled keypoints
    assert (grad[vis == 0] == 0).all()
    lab = (vis > 0) & (np.linalg.norm(grad, axis=-1) > 0)
    assert lab.sum() > 100
    # descent direction is exactly towards the target keypoint
    cos = (-grad[lab] * to_target[lab]).sum(-1) / (
        np.linalg.norm(grad[lab], axis=-1) *
        np.linalg.norm(to_target[lab], axis=-1))
    np.testing.assert_allclose(cos, 1.0, atol=1e-9)
    # and equals the analytic derivative of 1 - OKS (linear mode)
    if mode == 'linear':
        e = ((pred - gt)**2).sum(-1) / (8 * COCO_SIGMAS**2 *
                                        (area[:, None] + np.spacing(1)))
        wk = (vis > 0) * 1.0
        n_valid = (wk.sum(1) > 0).sum()
        g = (wk * np.exp(-e) / np.maximum(wk.sum(1, keepdims=True), 1))[
            ..., None] * 2 * (pred - gt) / (
                8 * COCO_SIGMAS[None, :, None]**2 *
                (area[:, None, None] + np.spacing(1))) / n_valid
        np.testing.assert_allclose(grad, g, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize('mode', ['linear', 'square', 'log'])
@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_degenerate_inputs_are_finite(mode, dtype):
    loss = OKSKeypointLoss(sigmas=COCO_SIGMAS, mode=mode).to(dtype)
    k = 17
    gt = torch.rand(4, k, 2, dtype=dtype) * 100
    pred = gt.clone()
    pred[1] += 1e6  # far off
    pred[2] += 3.0
    pred[3] += 0.5
    vis = torch.ones(4, k, dtype=dtype)
    vis[0] = 0  # no visible keypoint
    areas = torch.tensor([100.0, 100.0, 0.0, 0.0], dtype=dtype)  # zero area
    pred.requires_grad_(True)
    out = loss(pred, gt, vis, areas)
    out.backward()
    assert torch.isfinite(out)
    assert torch.isfinite(pred.grad).all()
    assert (pred.grad[0] == 0).all()
    per = OKSKeypointLoss(
        sigmas=COCO_SIGMAS, mode=mode, reduction='none').to(dtype)(
            pred, gt, vis, areas)
    assert torch.isfinite(per).all() and per[0] == 0
    if mode == 'log':
        # a far-off prediction still gets a finite pull toward the target
        g = pred.grad[1]
        assert (g.norm(dim=-1) > 0).any()
        assert ((-g * (gt[1] - pred[1].detach())).sum(-1) >= 0).all()
    # all persons invisible: loss 0, zero gradient
    p2 = gt.clone().requires_grad_(True)
    z = loss(p2, gt, torch.zeros_like(vis), areas)
    z.backward()
    assert z == 0 and (p2.grad == 0).all()


def test_bad_arguments():
    loss = OKSKeypointLoss(sigmas=COCO_SIGMAS)
    with pytest.raises(ValueError, match='14 keypoints but the sigmas have 17'):
        loss(torch.zeros(2, 14, 2), torch.zeros(2, 14, 2), torch.ones(2, 14),
             torch.ones(2))
    with pytest.raises(ValueError, match='areas'):
        loss(torch.zeros(2, 17, 2), torch.zeros(2, 17, 2), torch.ones(2, 17))
    with pytest.raises(ValueError, match='mode'):
        OKSKeypointLoss(sigmas=COCO_SIGMAS, mode='cubic')
    with pytest.raises(ValueError, match='sigmas'):
        OKSKeypointLoss()
    with pytest.raises(FileNotFoundError, match='no_such_dataset'):
        OKSKeypointLoss(metainfo='configs/_base_/datasets/no_such_dataset.py')
