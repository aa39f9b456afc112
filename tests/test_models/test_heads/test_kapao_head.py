"""KAPAOHead: targets, decoding, ideal outputs to COCO AP 1.0, training."""
import json
import math
import time

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData
from mmpose.registry import DATASETS, MODELS
from mmpose.structures import PoseDataSample

from tests.conftest import COCO_TINY_ANN, REPO
from tests.test_models.test_heads.test_yolo_pose_head import (
    _build_metric,
    load_tiny_val,
)

CONFIGS = REPO / 'configs'
S6_640 = CONFIGS / 'kapao_s6_4xb16-300e_coco-640.py'
TINY = CONFIGS / 'kapao_tiny_1xb4-300e_coco-tiny-256.py'
K = 17


def build_head(strides=(8, 16, 32), **kwargs):
    cfg = dict(
        type='KAPAOHead', num_keypoints=K, in_channels=16,
        featmap_strides=strides)
    cfg.update(kwargs)
    return MODELS.build(cfg)


def logit(p):
    return math.log(p / (1 - p))


def kapao_objects(person_boxes, kpts, vis, side, input_wh):
    """The objects KAPAO makes of some persons, built here independently of
    the head: persons (label 0) then one square keypoint object per visible
    keypoint inside the input (label k + 1)."""
    w, h = input_wh
    boxes, labels = [b for b in person_boxes], [0] * len(person_boxes)
    for i in range(len(person_boxes)):
        for k in range(kpts.shape[1]):
            x, y = float(kpts[i, k, 0]), float(kpts[i, k, 1])
            if vis[i, k] > 0 and 0 <= x < w and 0 <= y < h:
                boxes.append(torch.tensor([x - side / 2, y - side / 2,
                                           x + side / 2, y + side / 2],
                                          dtype=torch.float64))
                labels.append(k + 1)
    return torch.stack(boxes).double(), torch.tensor(labels)


def ideal_raw_outputs(head, bboxes, labels, img_idx, pose_kpts, pose_vis,
                      batch, sizes):
    """Raw outputs that decode exactly to the given objects.

    Every positive of YOLOv5's assignment gets the inverse of the decoding:
    box ``2 sigmoid(t) - 0.5`` and ``(2 sigmoid(t))^2 anchor``, objectness
    and its class +30 (other classes -30); a pose object's keypoints
    ``(4 sigmoid(t) - 2) anchor`` from the cell corner. Pose-object slots
    whose anchor cannot reach all visible keypoints (beyond 2 anchors) stay
    background. A slot assigned to several objects goes to the later one
    (pose objects are written first) unless that would leave the earlier
    owner without any slot. Returns the outputs and, per object, the number
    of slots it owns.
    """
    A, C, nc = head.num_anchors, head.num_out_channels, head.num_classes
    Kp = head.num_keypoints
    outs = [torch.full((batch, A, h, w, C), -30.0, dtype=torch.float64)
            for h, w in sizes]
    owner = [torch.full((batch, A, h, w), -1, dtype=torch.long)
             for h, w in sizes]
    owned = [0] * len(bboxes)
    rows = []
    for lvl, asg in enumerate(head.assign(bboxes, img_idx, sizes)):
        rows += [(lvl, *r) for r in zip(*[v.tolist() for v in (
            asg.img_idx, asg.anchor_idx, asg.grid_x, asg.grid_y,
            asg.gt_idx)])]
    rows.sort(key=lambda r: int(labels[r[5]] != 0))  # pose objects first
    for lvl, b, a, gx, gy, t in rows:
        s = head.featmap_strides[lvl]
        x1, y1, x2, y2 = (bboxes[t] / s).tolist()
        cx, cy, bw, bh = (x1 + x2) / 2 - gx, (y1 + y2) / 2 - gy, \
            x2 - x1, y2 - y1
        aw, ah = (head.anchors[lvl, a] / s).tolist()
        raw = torch.full((C, ), -30.0, dtype=torch.float64)
        raw[0] = logit((cx + 0.5) / 2)
        raw[1] = logit((cy + 0.5) / 2)
        raw[2] = logit(math.sqrt(bw / aw) / 2)
        raw[3] = logit(math.sqrt(bh / ah) / 2)
        raw[4] = 30.0
        raw[5 + int(labels[t])] = 30.0
        if labels[t] == 0:
            rel = pose_kpts[t] / s - torch.tensor([gx, gy],
                                                  dtype=torch.float64)
            ratio = rel / torch.tensor([aw, ah], dtype=torch.float64)
            ratio = torch.where(pose_vis[t][:, None] > 0, ratio,
                                torch.zeros_like(ratio))
            if bool((ratio.abs() >= 1.95).any()):
                continue  # this anchor cannot express the keypoints
            p = (ratio + 2) / 4
            raw[5 + nc:] = torch.log(p / (1 - p)).reshape(2 * Kp)
        prev = int(owner[lvl][b, a, gy, gx])
        if prev == t:
            continue  # YOLOv5 may list a cell twice (integer centres)
        if prev >= 0:
            if owned[prev] < 2:
                continue  # the earlier owner's last slot
            owned[prev] -= 1
        outs[lvl][b, a, gy, gx] = raw
        owner[lvl][b, a, gy, gx] = t
        owned[t] += 1
    return [o.float() for o in outs], torch.tensor(owned)


# ------------------------------------------------------------ basics
def test_channels_decoding_and_config_errors():
    head = build_head(strides=(8, 16, 32, 64))
    assert head.num_classes == 1 + K and head.num_extra_channels == 2 * K
    feats = [torch.randn(2, 16, 256 // s, 256 // s) for s in (8, 16, 32, 64)]
    outs = head(feats)
    assert [tuple(o.shape) for o in outs] == [
        (2, 3, 256 // s, 256 // s, 5 + 1 + K + 2 * K) for s in (8, 16, 32, 64)
    ]
    # keypoints decode as (4 sigmoid(t) - 2) * anchor from the cell corner
    dec = head.decode(outs)
    lvl, b, a, gy, gx = 1, 1, 2, 5, 3
    H, W = outs[lvl].shape[2:4]
    n = sum(3 * o.shape[2] * o.shape[3] for o in outs[:lvl]) + \
        (a * H + gy) * W + gx
    t = outs[lvl][b, a, gy, gx, 5 + 1 + K:].view(K, 2)
    anchor = head.anchors[lvl, a]  # input pixels
    expect = (4 * torch.sigmoid(t) - 2) * anchor + \
        torch.tensor([gx, gy]) * 16.0
    torch.testing.assert_close(dec['keypoints'][b, n], expect)
    assert dec['keypoints'].shape == (2, dec['bboxes'].shape[1], K, 2)
    with pytest.raises(ValueError, match='num_classes'):
        build_head(num_classes=1)
    with pytest.raises(ValueError, match='sigmas'):
        build_head(loss_kpt=dict(type='OKSKeypointLoss', sigmas=[0.1] * 14))
    with pytest.raises(ValueError, match='kp_bbox'):
        build_head(kp_bbox=0.0)


# ------------------------------------------------------------ targets
def test_targets_on_real_images():
    """Pose and keypoint objects of the 4 shipped images, against the raw
    COCO annotations mapped to the input by hand."""
    cfg = Config.fromfile(TINY)
    head = MODELS.build(cfg.model.head)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    anns = json.loads(COCO_TINY_ANN.read_text())
    size = 256
    side = 0.05 * size
    total_pose = total_kp = 0
    for i in range(len(dataset)):
        ds = dataset[i]['data_samples']
        img_id = ds.metainfo['img_id']
        h, w = ds.metainfo['ori_shape']
        # the tiny pipeline letterboxes the long side to 256, centred
        s = size / max(w, h)

        def to_input(p, wh=np.array([w, h]), s=s):
            return (p - wh / 2) * s + size / 2

        persons = [a for a in anns['annotations'] if a['image_id'] == img_id]
        gt = ds.gt_instance_labels
        boxes = np.array([a['bbox'] for a in persons], dtype=np.float64)
        boxes[:, 2:] += boxes[:, :2]
        kp = np.array([a['keypoints'] for a in persons],
                      dtype=np.float64).reshape(len(persons), K, 3)
        # the pipeline keeps every person of the image, in json order (the
        # dataset clips boxes to the image, x <= w - 1, y <= h - 1)
        boxes = boxes.reshape(-1, 2, 2).clip(0, np.array([w, h]) - 1)
        np.testing.assert_allclose(
            gt.bboxes, to_input(boxes).reshape(-1, 4), atol=1e-3)

        t = head._get_targets_single(ds, torch.device('cpu'), torch.float64)
        labels = t['labels'].numpy()
        n = len(persons)
        assert (labels[:n] == 0).all() and (labels[n:] > 0).all()
        torch.testing.assert_close(t['bboxes'][:n],
                                   torch.as_tensor(gt.bboxes).double())
        # one keypoint object per labelled keypoint, class k + 1, centred
        exp = [(k + 1, *to_input(kp[p, k, :2])) for p in range(n)
               for k in range(K) if kp[p, k, 2] > 0]
        got = t['bboxes'][n:].numpy()
        assert len(got) == len(exp) == sum(a['num_keypoints']
                                           for a in persons)
        np.testing.assert_array_equal(labels[n:], [e[0] for e in exp])
        np.testing.assert_allclose((got[:, :2] + got[:, 2:]) / 2,
                                   [e[1:] for e in exp], atol=1e-3)
        np.testing.assert_allclose(got[:, 2:] - got[:, :2], side, atol=1e-9)
        # only pose objects carry keypoints
        assert t['keypoints_visible'][n:].sum() == 0
        np.testing.assert_array_equal(t['keypoints_visible'][:n].numpy(),
                                      kp[:, :, 2] > 0)
        total_pose += n
        total_kp += len(exp)
    assert total_pose == len(anns['annotations'])


def _sample(img_hw, bboxes, kpts, vis):
    ds = PoseDataSample(
        metainfo=dict(img_shape=img_hw, input_size=img_hw[::-1]))
    ds.gt_instance_labels = InstanceData(
        bboxes=torch.as_tensor(bboxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.zeros(len(bboxes), dtype=torch.long),
        keypoints=torch.as_tensor(kpts, dtype=torch.float32).reshape(-1, K, 2),
        keypoints_visible=torch.as_tensor(vis, dtype=torch.float32).reshape(
            -1, K))
    return ds


def test_keypoint_objects_outside_input_and_kp_bbox():
    """Invisible keypoints and keypoints outside the input make no object;
    kp_bbox scales with max(H, W) of the input."""
    kp = np.full((1, K, 2), 50.0)
    kp[0, :, 0] += np.arange(K)
    kp[0, 1] = [-3, 50]  # left of the input
    kp[0, 2] = [50, 200]  # below a 320 x 160 input
    vis = np.ones((1, K))
    vis[0, 3] = 0
    ds = _sample((160, 320), [[40, 40, 90, 90]], kp, vis)
    head = build_head(kp_bbox=0.1)
    t = head._get_targets_single(ds, torch.device('cpu'), torch.float64)
    assert t['labels'].tolist() == [0] + [k + 1 for k in range(K)
                                          if k not in (1, 2, 3)]
    wh = t['bboxes'][1:, 2:] - t['bboxes'][1:, :2]
    torch.testing.assert_close(wh, torch.full_like(wh, 32.0))
    with pytest.raises(ValueError, match='one category'):
        ds.gt_instance_labels.labels[0] = 1
        head._get_targets_single(ds, torch.device('cpu'), torch.float64)


def test_fusion_tolerance_modes():
    """'input' pixels as given; 'original' pixels converted with the
    sample's input_scale / input_size; 'person' relative to sqrt(w h)."""
    head = build_head()
    boxes = torch.tensor([[0., 0., 100., 400.], [10., 10., 20., 50.]])
    meta = dict(input_size=(640, 640), input_scale=np.array([1280., 1280.]))
    cfg = dict(fusion_tol=50.0, fusion_tol_mode='input')
    assert float(head._fusion_tol(cfg, meta, boxes)) == 50.0
    cfg['fusion_tol_mode'] = 'original'  # 2 original px per input px
    assert float(head._fusion_tol(cfg, meta, boxes)) == 25.0
    cfg.update(fusion_tol=0.25, fusion_tol_mode='person')
    torch.testing.assert_close(head._fusion_tol(cfg, meta, boxes),
                               torch.tensor([50.0, 0.25 * 20.0]))
    with pytest.raises(ValueError, match='fusion_tol_mode'):
        head._fusion_tol(dict(cfg, fusion_tol_mode='px'), meta, boxes)
    with pytest.raises(KeyError, match='input_scale'):
        head._fusion_tol(dict(cfg, fusion_tol_mode='original'), {}, boxes)


# ---------------------------------------------------- ideal raw outputs
def _gt_in_input(data_samples):
    """Persons COCO evaluates (a visible keypoint), in input pixels."""
    bboxes, img_idx, kpts, vis = [], [], [], []
    for i, ds in enumerate(data_samples):
        gt = ds.gt_instances
        keep = gt.keypoints_visible.sum(-1) > 0
        c, s = ds.metainfo['input_center'], ds.metainfo['input_scale']
        size = np.array(ds.metainfo['input_size'])

        def to_input(p, c=c, s=s, size=size):
            return (p - c + 0.5 * s) / s * size

        bboxes.append(torch.from_numpy(
            to_input(gt.bboxes[keep].reshape(-1, 2, 2)).reshape(-1, 4)))
        kpts.append(torch.from_numpy(to_input(gt.keypoints[keep])))
        vis.append(torch.from_numpy(gt.keypoints_visible[keep]))
        img_idx.append(torch.full((int(keep.sum()), ), i))
    return (torch.cat(bboxes).double(), torch.cat(img_idx),
            torch.cat(kpts).double(), torch.cat(vis).double())


def _coco_ap(model, inputs, data_samples, dataset, metric_cfg, test_cfg):
    model.test_cfg = test_cfg
    results = model.predict(inputs, [ds.clone() for ds in data_samples])
    for r in results:
        p = r.pred_instances
        assert p.keypoints.shape[1:] == (K, 2)
        assert p.keypoint_scores.shape == p.keypoints.shape[:2]
        assert np.isfinite(p.keypoints).all()
    evaluator = Evaluator([_build_metric(metric_cfg)])
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process(results)
    return evaluator.evaluate(len(results)), results


def test_ideal_outputs_give_coco_ap_1_with_and_without_fusion():
    """GT objects encoded into raw outputs -> predict -> CocoMetric.

    AP 1.0 with and without fusion. Then the pose objects' keypoints are
    moved 12 px off (keypoint objects stay exact): without fusion the AP
    drops, with fusion every labelled keypoint is replaced by its keypoint
    object and the AP is 1.0 again."""
    cfg = Config.fromfile(S6_640)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    head = model.head
    dataset, metric_cfg = load_tiny_val(cfg.val_pipeline)
    samples = [dataset[i] for i in range(len(dataset))]
    data = model.data_preprocessor(pseudo_collate(samples), training=False)
    inputs, data_samples = data['inputs'], data['data_samples']
    B, _, H, W = inputs.shape
    sizes = [(H // s, W // s) for s in head.featmap_strides]

    person_boxes, person_img, kpts, vis = _gt_in_input(data_samples)
    assert len(person_boxes) == 12
    boxes, labels, img_idx, owners = [], [], [], []
    for i in range(B):
        sel = (person_img == i).nonzero(as_tuple=True)[0]
        b, lab = kapao_objects(person_boxes[sel], kpts[sel], vis[sel],
                               0.05 * max(H, W), (W, H))
        boxes.append(b)
        labels.append(lab)
        img_idx.append(torch.full((len(b), ), i))
        owners.append(sel)
    boxes, labels, img_idx = torch.cat(boxes), torch.cat(labels), \
        torch.cat(img_idx)
    is_pose = labels == 0
    # pose payload rows aligned with `boxes` (keypoint objects: unused)
    payload_idx = torch.zeros(len(boxes), dtype=torch.long)
    payload_idx[is_pose] = torch.cat(owners)
    n_kp = int((~is_pose).sum())
    assert n_kp == int((vis > 0).sum())

    # our raw outputs replace the network's: skip the backbone
    model.extract_feat = lambda inputs: None

    def run(shift_px, fuse):
        k = kpts + shift_px
        outs, owned = ideal_raw_outputs(head, boxes, labels, img_idx,
                                        k[payload_idx], vis[payload_idx], B,
                                        sizes)
        assert (owned > 0).all(), 'an object has no usable slot'
        head.forward = lambda feats: tuple(outs)
        test_cfg = dict(cfg.model.test_cfg, fuse_keypoint_objects=fuse)
        return _coco_ap(model, inputs, data_samples, dataset, metric_cfg,
                        test_cfg)

    for fuse in (False, True):
        metrics, results = run(0.0, fuse)
        assert metrics['coco/AP'] == pytest.approx(1.0, abs=1e-9), fuse
        assert metrics['coco/AR'] == pytest.approx(1.0, abs=1e-9), fuse
    # with fusion, labelled keypoints carry their keypoint object's score
    # (1), the others the person score (1 here too)
    scores = np.concatenate([r.pred_instances.keypoint_scores
                             for r in results])
    assert np.allclose(scores, 1.0)

    shift = torch.tensor([12.0, -5.0], dtype=torch.float64)
    off, _ = run(shift, False)
    assert off['coco/AP'] < 0.9
    fused, results = run(shift, True)
    assert fused['coco/AP'] == pytest.approx(1.0, abs=1e-9)
    # fusion off = every keypoint exactly 13 px from the ground truth
    assert off['coco/AP'] < fused['coco/AP']


# ------------------------------------------------------------- losses
def test_loss_is_zero_ish_at_ideal_outputs_and_oks_option():
    """Box and keypoint losses vanish at ideal outputs; moving the pose
    keypoints raises only the keypoint loss; the OKS loss can replace the
    distance loss."""
    boxes = torch.tensor([[84., 32., 114., 92.], [130., 100., 190., 220.]],
                         dtype=torch.float64)
    # keypoints near the box centre: every anchor of every positive cell can
    # express them (within 2 anchors of the cell corner)
    torch.manual_seed(0)
    kp = (boxes[:, None, :2] + boxes[:, None, 2:]) / 2 + \
        torch.rand(2, K, 2, dtype=torch.float64) * 6 - 3
    vis = torch.ones(2, K, dtype=torch.float64)
    vis[1, :4] = 0
    ds = _sample((256, 256), boxes.numpy(), kp.numpy(), vis.numpy())
    sizes = [(32, 32), (16, 16), (8, 8)]
    for loss_kpt in (None,
                     dict(type='OKSKeypointLoss',
                          metainfo='configs/_base_/datasets/coco.py',
                          loss_weight=0.1)):
        head = build_head(**({} if loss_kpt is None else
                             dict(loss_kpt=loss_kpt)))
        # the head's own pose objects, encoded ideally (keypoint objects
        # stay background: they do not enter the keypoint loss)
        t = head.get_targets([ds], torch.device('cpu'), torch.float64)
        pose = t['labels'] == 0
        assert int(pose.sum()) == 2 and len(pose) == 2 + int(vis.sum())
        outs, owned = ideal_raw_outputs(head, t['bboxes'][pose],
                                        t['labels'][pose],
                                        t['img_idx'][pose],
                                        t['keypoints'][pose],
                                        t['keypoints_visible'][pose], 1,
                                        sizes)
        slots = {(lvl, *r) for lvl, asg in enumerate(
            head.assign(t['bboxes'][pose], t['img_idx'][pose], sizes))
            for r in zip(*[v.tolist() for v in asg])}
        assert int(owned.sum()) == len(slots)  # every pose positive ideal
        losses = head.loss_by_feat([o.double() for o in outs], [ds])
        assert set(losses) == {'loss_bbox', 'loss_obj', 'loss_cls',
                               'loss_kpt'}
        assert all(torch.isfinite(v) for v in losses.values())
        assert losses['loss_kpt'] < 1e-6
        outs2 = [o.double().clone() for o in outs]
        for o in outs2:
            o[..., 5 + head.num_classes:] += 0.5
        losses2 = head.loss_by_feat(outs2, [ds])
        assert losses2['loss_kpt'] > losses['loss_kpt'] + 1e-3
        torch.testing.assert_close(losses2['loss_bbox'], losses['loss_bbox'])
        torch.testing.assert_close(losses2['loss_cls'], losses['loss_cls'])


def test_keypoint_loss_is_the_mean_distance_over_visible_keypoints():
    """loss_kpt of one level equals the original formula computed by hand:
    mean over visible keypoints of pose positives of |pred - gt| (grid)."""
    head = build_head(yolov5_loss_scaling=False,
                      loss_kpt=dict(type='KeypointDistanceLoss',
                                    loss_weight=1.0))
    box = [[100., 60., 160., 180.]]
    torch.manual_seed(1)
    kp = torch.rand(1, K, 2) * 60 + torch.tensor([100., 60.])
    vis = torch.ones(1, K)
    vis[0, 5:9] = 0
    ds = _sample((256, 256), box, kp.numpy(), vis.numpy())
    sizes = [(32, 32), (16, 16), (8, 8)]
    outs = [torch.randn(1, 3, h, w, head.num_out_channels, dtype=torch.float64)
            for h, w in sizes]
    losses = head.loss_by_feat(outs, [ds])
    t = head.get_targets([ds], torch.device('cpu'), torch.float64)
    expected = 0.0
    for lvl, asg in enumerate(head.assign(t['bboxes'], t['img_idx'], sizes)):
        s = head.featmap_strides[lvl]
        d = []
        for b, a, gx, gy, g in zip(*[v.tolist() for v in asg]):
            if t['labels'][g] != 0:
                continue
            raw = outs[lvl][b, a, gy, gx, 5 + 1 + K:].view(K, 2)
            anchor = head.anchors[lvl, a].double() / s
            pred = (4 * raw.sigmoid() - 2) * anchor
            gt = t['keypoints'][g] / s - torch.tensor([gx, gy]).double()
            for k in range(K):
                if t['keypoints_visible'][g, k] > 0:
                    d.append(float((pred[k] - gt[k]).norm()))
        if d:
            expected += sum(d) / len(d)
    assert float(losses['loss_kpt']) == pytest.approx(expected, rel=1e-9)


def test_bad_input_trains_without_nan():
    """No person, persons without visible keypoints, keypoints outside the
    image, a box outside the image, a degenerate box: finite loss/grads."""
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg = None
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    x = torch.rand(3, 3, 128, 128) * 255
    # garbage predictions of the untrained model through both NMS passes
    # and the fusion (everything above 0 kept): finite
    model.eval()
    with torch.no_grad():
        preds = model.head.predict(
            model.extract_feat(x), [_sample((128, 128), [], [], [])] * 3,
            test_cfg=dict(score_thr=0.0, kpt_score_thr=0.0,
                          fusion_person_thr=0.0))
    assert all(len(p) > 0 for p in preds)
    for p in preds:
        assert np.isfinite(p.keypoints).all()
        assert np.isfinite(p.keypoint_scores).all()
    model.train()
    rng = np.random.default_rng(0)
    # a 128 x 128 input keeps the network cheap
    kp = rng.uniform(0, 128, size=(4, K, 2))
    kp[1, :5] = [[-20, 5], [150, 10], [5, -25], [250, 250], [-1e3, 2e3]]
    vis = np.ones((4, K))
    vis[0] = 0
    boxes = [[10, 10, 60, 100], [50, 25, 100, 125], [-30, -30, -5, -5],
             [15, 15, 15, 45]]
    batch = [
        _sample((128, 128), np.zeros((0, 4)), np.zeros((0, K, 2)),
                np.zeros((0, K))),
        _sample((128, 128), boxes, kp, vis),
        _sample((128, 128), boxes[:1], kp[:1], vis[:1]),
    ]
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(2):
        losses = model.loss(x, batch)
        assert all(torch.isfinite(v) for v in losses.values()), losses
        optim.zero_grad()
        sum(losses.values()).backward()
        for n, p in model.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), n
        optim.step()
    assert set(losses) == {'loss_bbox', 'loss_obj', 'loss_cls', 'loss_kpt'}
    losses = model.loss(x[:1], batch[:1])
    assert all(torch.isfinite(v) for v in losses.values())
    # predictions stay finite, also when every candidate goes through both
    # NMS passes and the fusion
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(x)
        for test_cfg in (dict(cfg.model.test_cfg),
                         dict(cfg.model.test_cfg, score_thr=0.0,
                              kpt_score_thr=0.0, fusion_person_thr=0.0)):
            preds = model.head.predict(feats, batch, test_cfg=test_cfg)
            for p in preds:
                assert np.isfinite(p.keypoints).all()
                assert np.isfinite(p.bboxes).all()
                assert np.isfinite(p.keypoint_scores).all()


# ------------------------------------------------------------ overfitting
@pytest.mark.slow
def test_tiny_model_overfits_coco_tiny_and_fusion_does_not_hurt():
    """The tiny config learns the 4 shipped images (train = val); fusing
    keypoint objects does not lower the AP. One thread: two threads fight
    the other processes of a shared 2-core machine and run slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _overfit_tiny()
    finally:
        torch.set_num_threads(threads)


def _overfit_tiny():
    from mmengine.optim import build_optim_wrapper
    torch.manual_seed(0)
    np.random.seed(0)
    cfg = Config.fromfile(TINY)
    model = MODELS.build(cfg.model)
    model.init_weights()
    train_set = DATASETS.build(cfg.train_dataloader.dataset)
    train_batch = pseudo_collate([train_set[i] for i in range(len(train_set))])
    optim = build_optim_wrapper(model, cfg.optim_wrapper)
    # 250 of the config's 300 iterations (one per epoch) keep the test near
    # 1.5 min on one idle core; AP without fusion then is ~0.6
    iters = 250
    t0 = time.time()
    model.train()
    for _ in range(iters):
        model.train_step(train_batch, optim)
    train_s = time.time() - t0

    val_set = DATASETS.build(cfg.val_dataloader.dataset)
    data = pseudo_collate([val_set[i] for i in range(len(val_set))])
    model.eval()
    ap = {}
    for fuse in (False, True):
        model.test_cfg = dict(cfg.model.test_cfg, fuse_keypoint_objects=fuse)
        with torch.no_grad():
            results = model.test_step(data)
        evaluator = Evaluator([_build_metric(cfg.val_evaluator)])
        evaluator.dataset_meta = val_set.metainfo
        evaluator.process(results)
        ap[fuse] = evaluator.evaluate(len(results))['coco/AP']
    print(f'tiny KAPAO: {iters} iterations in {train_s:.0f} s, AP '
          f'{ap[False]:.3f} without fusion, {ap[True]:.3f} with')
    assert ap[False] > 0.5
    assert ap[True] >= ap[False] - 1e-6
