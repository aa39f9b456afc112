"""YOLOPoseHead: assignment, ideal-output decoding to COCO AP 1.0, training."""
import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.evaluator import Evaluator
from mmengine.structures import InstanceData
from mmpose.registry import DATASETS, MODELS
from mmpose.structures import PoseDataSample

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / 'configs'
S6_640 = CONFIGS / 'yolopose_s6_4xb16-300e_coco-640.py'
TINY = CONFIGS / 'yolopose_tiny_1xb4-300e_coco-tiny-256.py'
TINY_BASE_DATA = CONFIGS / '_base_' / 'datasets' / 'coco-tiny_bottomup.py'


def build_head(strides=(8, 16, 32), **kwargs):
    cfg = dict(
        type='YOLOPoseHead',
        num_keypoints=17,
        in_channels=16,
        featmap_strides=strides,
        loss_kpt=dict(
            type='OKSKeypointLoss',
            metainfo='configs/_base_/datasets/coco.py',
            loss_weight=0.1))
    cfg.update(kwargs)
    return MODELS.build(cfg)


def as_set(asg):
    return {(int(b), int(a), int(x), int(y), int(t))
            for b, a, x, y, t in zip(asg.img_idx, asg.anchor_idx, asg.grid_x,
                                     asg.grid_y, asg.gt_idx)}


# ---------------------------------------------------------------- assignment
def test_assignment_on_hand_made_boxes():
    """YOLOv5 rule, worked out by hand for P5 anchors on a 256 x 256 input.

    Box 0, image 0: centre (99, 62), size 30 x 60.
      stride 8: centre (12.375, 7.75) cells, size (3.75, 7.5); anchors
        (1.25, 1.625) ratio 4.6 > 4 no; (2, 3.75) ratio 2 yes;
        (4.125, 2.875) ratio 2.6 yes. x frac .375 < .5 -> left cell 11;
        y frac .75 -> no upper; right: (32 - 12.375) frac .625 no;
        lower: (32 - 7.75) frac .25 -> cell row 8.
      stride 16: centre (6.1875, 3.875), size (1.875, 3.75): all 3 anchors
        (ratios 1.02, 2.07, 1.98); left cell 5, lower row 4.
      stride 32: centre (3.09375, 1.9375), size (0.9375, 1.875): anchor 0
        only (ratio 3.87; others 5.2 and 12.4); left cell 2, lower row 2.
    Box 1, image 1: centre (4, 4), size 16 x 16, at the top-left corner.
      stride 8: centre (0.5, 0.5), size (2, 2): ratios 1.6, 1.875, 2.06:
        all 3 anchors; x, y <= 1 and (32 - 0.5) frac .5: own cell only.
      stride 16: size (1, 1): ratios 3.81, 3.875, 7.44: anchors 0 and 1.
      stride 32: size (0.5, 0.5): smallest ratio 7.25: nothing.
    Box 2, image 1: zero width -> matches nothing anywhere.
    """
    head = build_head()
    boxes = torch.tensor([[84., 32., 114., 92.], [-4., -4., 12., 12.],
                          [50., 50., 50., 90.]])
    img_idx = torch.tensor([0, 1, 1])
    sizes = [(32, 32), (16, 16), (8, 8)]
    asg = head.assign(boxes, img_idx, sizes)

    cells0 = [(12, 7), (11, 7), (12, 8)]
    exp0 = {(0, a, x, y, 0) for a in (1, 2) for x, y in cells0}
    exp0 |= {(1, a, 0, 0, 1) for a in (0, 1, 2)}
    assert as_set(asg[0]) == exp0
    assert asg[0].gt_idx.numel() == len(exp0)  # no duplicates

    cells1 = [(6, 3), (5, 3), (6, 4)]
    exp1 = {(0, a, x, y, 0) for a in (0, 1, 2) for x, y in cells1}
    exp1 |= {(1, a, 0, 0, 1) for a in (0, 1)}
    assert as_set(asg[1]) == exp1

    cells2 = [(3, 1), (2, 1), (3, 2)]
    assert as_set(asg[2]) == {(0, 0, x, y, 0) for x, y in cells2}

    # the anchor-ratio threshold is a parameter: 2 keeps only close shapes
    strict = build_head(anchor_ratio_thr=2.0).assign(boxes, img_idx, sizes)
    assert {(a, t) for _, a, _, _, t in as_set(strict[2])} == set()
    assert {a for _, a, _, _, t in as_set(strict[1]) if t == 0} == {0, 2}
    # neighbour_thr=0 keeps only the own cell
    own = build_head(neighbour_thr=0.0).assign(boxes, img_idx, sizes)
    assert {(x, y) for _, _, x, y, t in as_set(own[1]) if t == 0} == {(6, 3)}


def test_p6_levels_and_channels():
    head = build_head(strides=(8, 16, 32, 64))
    assert head.anchors.shape == (4, 3, 2)
    feats = [torch.randn(2, 16, 512 // s, 512 // s) for s in (8, 16, 32, 64)]
    outs = head(feats)
    assert [tuple(o.shape) for o in outs] == [
        (2, 3, 512 // s, 512 // s, 5 + 1 + 3 * 17) for s in (8, 16, 32, 64)
    ]
    with pytest.raises(ValueError, match='feature levels'):
        head(feats[:3])
    with pytest.raises(ValueError, match='sigmas'):
        build_head(num_keypoints=14)


@pytest.mark.parametrize('name', [
    'yolopose_s6_4xb16-300e_coco-640.py', 'yolopose_s6_4xb16-300e_coco-960.py',
    'yolopose_m6_4xb16-300e_coco-960.py', 'yolopose_l6_4xb16-300e_coco-960.py',
    'yolopose_tiny_1xb4-300e_coco-tiny-256.py'
])
def test_configs_build_and_run(name):
    """Every config builds, its neck feeds its head, and the P6 level is
    there (4 levels, strides 8-64, 3 anchors x (6 + 3 x 17) channels)."""
    cfg = Config.fromfile(CONFIGS / name)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    with torch.no_grad():
        outs = model._forward(torch.rand(1, 3, 128, 128) * 255)
    assert [tuple(o.shape) for o in outs] == [
        (1, 3, 128 // s, 128 // s, 57) for s in (8, 16, 32, 64)
    ]
    size = cfg.val_pipeline[1]['input_size']
    assert size[0] % 64 == 0 and f'-{size[0]}.py' in name


# ------------------------------------------------------- ideal raw outputs
def logit(p):
    return math.log(p / (1 - p))


def ideal_raw_outputs(head, bboxes, img_idx, kpts, vis, batch, sizes):
    """Raw head outputs that decode exactly to the given persons.

    Every positive of YOLOv5's assignment gets the inverse of the decoding
    (box: 2 sigmoid(t) - 0.5 and (2 sigmoid(t))^2 anchor; keypoints
    2 t - 0.5; objectness, class and visible-keypoint logits +30, the rest
    -30). Returns the outputs and, per person, how many slots it owns.
    """
    A, K, C = head.num_anchors, head.num_keypoints, head.num_out_channels
    outs = []
    owner = []
    for h, w in sizes:
        o = torch.full((batch, A, h, w, C), -30.0, dtype=torch.float64)
        o[..., 5] = 30.0  # class
        outs.append(o)
        owner.append(torch.full((batch, A, h, w), -1, dtype=torch.long))
    for lvl, asg in enumerate(head.assign(bboxes, img_idx, sizes)):
        s = head.featmap_strides[lvl]
        for b, a, gx, gy, t in zip(*[v.tolist() for v in (
                asg.img_idx, asg.anchor_idx, asg.grid_x, asg.grid_y,
                asg.gt_idx)]):
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
            raw[5] = 30.0
            k = kpts[t] / s - torch.tensor([gx, gy], dtype=torch.float64)
            ex = raw[6:].view(K, 3)
            ex[:, :2] = (k + 0.5) / 2
            ex[:, 2] = torch.where(vis[t] > 0, 30.0, -30.0)
            outs[lvl][b, a, gy, gx] = raw
            owner[lvl][b, a, gy, gx] = t
    owned = torch.zeros(len(bboxes), dtype=torch.long)
    for ow in owner:
        ids, counts = ow[ow >= 0].unique(return_counts=True)
        owned[ids] += counts
    return [o.float() for o in outs], owned


def load_tiny_val(pipeline):
    cfg = Config.fromfile(TINY_BASE_DATA)
    ds_cfg = cfg.val_dataloader.dataset
    ds_cfg.pipeline = pipeline
    return DATASETS.build(ds_cfg), cfg.val_evaluator


def to_input_space(points, meta):
    """Image -> model input coordinates (inverse of what mmpose's
    ``BottomupPoseEstimator.add_pred_to_datasample`` applies)."""
    c, s = meta['input_center'], meta['input_scale']
    return (points - c + 0.5 * s) / s * np.array(meta['input_size'])


@pytest.mark.parametrize('config', [S6_640, TINY])
def test_ideal_outputs_give_coco_ap_1(config):
    """GT encoded into raw outputs -> predict -> CocoMetric: AP 1.0."""
    cfg = Config.fromfile(config)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model).eval()
    head = model.head
    dataset, metric_cfg = load_tiny_val(cfg.val_pipeline)
    samples = [dataset[i] for i in range(len(dataset))]
    data = model.data_preprocessor(pseudo_collate(samples), training=False)
    inputs, data_samples = data['inputs'], data['data_samples']
    B, _, H, W = inputs.shape

    bboxes, img_idx, kpts, vis = [], [], [], []
    for i, ds in enumerate(data_samples):
        gt = ds.gt_instances
        keep = gt.keypoints_visible.sum(-1) > 0  # persons COCO evaluates
        k = to_input_space(gt.keypoints[keep], ds.metainfo)
        bb = to_input_space(gt.bboxes[keep].reshape(-1, 2, 2),
                            ds.metainfo).reshape(-1, 4)
        bboxes.append(torch.from_numpy(bb))
        kpts.append(torch.from_numpy(k))
        vis.append(torch.from_numpy(gt.keypoints_visible[keep]))
        img_idx.append(torch.full((int(keep.sum()), ), i))
    bboxes, kpts, vis, img_idx = (torch.cat(v).double() if j < 3 else
                                  torch.cat(v) for j, v in enumerate(
                                      (bboxes, kpts, vis, img_idx)))
    assert len(bboxes) == 12
    sizes = [(H // s, W // s) for s in head.featmap_strides]
    outs, owned = ideal_raw_outputs(head, bboxes, img_idx, kpts, vis, B,
                                    sizes)
    assert (owned > 0).all(), 'a person lost all its slots to another'

    # through the estimator's predict (our raw outputs replace the network's)
    model.extract_feat = lambda inputs: None
    head.forward = lambda feats: tuple(outs)
    results = model.predict(inputs, data_samples)
    n_pred = [len(r.pred_instances) for r in results]
    assert sum(n_pred) >= 12
    for r in results:
        p = r.pred_instances
        assert p.keypoints.shape[1:] == (17, 2)
        assert p.keypoint_scores.shape == p.keypoints.shape[:2]
        assert p.bboxes.shape == (len(p), 4)
        assert np.isfinite(p.keypoints).all()

    evaluator = Evaluator([_build_metric(metric_cfg)])
    evaluator.dataset_meta = dataset.metainfo
    evaluator.process(results)
    metrics = evaluator.evaluate(len(results))
    assert metrics['coco/AP'] == pytest.approx(1.0, abs=1e-9)
    assert metrics['coco/AR'] == pytest.approx(1.0, abs=1e-9)

    # mmpose's visualizer draws the predictions unchanged
    if config == TINY:
        import mmcv
        from mmpose.visualization import PoseLocalVisualizer
        vis = PoseLocalVisualizer(name='yolopose_test_vis')
        vis.set_dataset_meta(dataset.metainfo)
        img = mmcv.imread(results[0].img_path, channel_order='rgb')
        drawn = vis.add_datasample(
            'pred', img, results[0], draw_gt=False, draw_bbox=True,
            show=False, kpt_thr=0.5)
        assert drawn.shape == img.shape and (drawn != img).any()

    # sanity: the same outputs with keypoints shifted by 20 px lose AP
    shifted = []
    for lvl, o in enumerate(outs):
        o = o.clone()
        o[..., 6::3] += 10.0 / head.featmap_strides[lvl]  # 2t: +20 px
        shifted.append(o)
    head.forward = lambda feats: tuple(shifted)
    evaluator.process(model.predict(inputs, data_samples))
    assert evaluator.evaluate(len(results))['coco/AP'] < 0.9


def _build_metric(metric_cfg):
    from mmpose.registry import METRICS
    return METRICS.build(metric_cfg)


# --------------------------------------------------------------- training
def _sample(img_hw, bboxes, kpts, vis):
    ds = PoseDataSample(metainfo=dict(img_shape=img_hw, input_size=img_hw[::-1]))
    ds.gt_instance_labels = InstanceData(
        bboxes=torch.as_tensor(bboxes, dtype=torch.float32).reshape(-1, 4),
        labels=torch.zeros(len(bboxes), dtype=torch.long),
        keypoints=torch.as_tensor(kpts, dtype=torch.float32).reshape(
            -1, 17, 2),
        keypoints_visible=torch.as_tensor(vis, dtype=torch.float32).reshape(
            -1, 17))
    return ds


def test_bad_input_trains_without_nan():
    """No person, persons without visible keypoints, keypoints outside the
    image, a box outside the image, a degenerate box: finite loss/grads."""
    cfg = Config.fromfile(TINY)
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    rng = np.random.default_rng(0)
    kp = rng.uniform(0, 128, size=(4, 17, 2))
    kp[1, :5] = [[-40, 10], [300, 20], [10, -50], [500, 500], [-1e3, 2e3]]
    vis = np.ones((4, 17))
    vis[0] = 0  # no visible keypoint
    boxes = [[10, 10, 60, 100], [50, 25, 100, 125], [-60, -60, -10, -10],
             [15, 15, 15, 45]]
    batch = [
        _sample((128, 128), np.zeros((0, 4)), np.zeros((0, 17, 2)),
                np.zeros((0, 17))),  # no person
        _sample((128, 128), boxes, kp, vis),
        _sample((128, 128), boxes[:1], kp[:1], vis[:1]),  # only invisible kp
    ]
    x = torch.rand(3, 3, 128, 128) * 255
    optim = torch.optim.SGD(model.parameters(), lr=0.01)
    for _ in range(3):
        losses = model.loss(x, batch)
        total = sum(v for k, v in losses.items() if 'loss' in k)
        assert all(torch.isfinite(v) for v in losses.values()), losses
        optim.zero_grad()
        total.backward()
        for n, p in model.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), n
        optim.step()
    assert {'loss_bbox', 'loss_obj', 'loss_cls', 'loss_kpt',
            'loss_kpt_vis'} <= set(losses)
    # a batch without any person: every loss key present, all finite
    losses = model.loss(x[:1], batch[:1])
    assert set(losses) >= {'loss_kpt', 'loss_obj'} and all(
        torch.isfinite(v) for v in losses.values())
    # predictions of an untrained model are finite
    model.eval()
    with torch.no_grad():
        preds = model.head.predict(model.extract_feat(x), batch)
    for p in preds:
        assert np.isfinite(p.keypoints).all() and np.isfinite(p.bboxes).all()


def test_loss_is_zero_ish_at_ideal_outputs():
    """The keypoint and box losses vanish when raw outputs are ideal."""
    head = build_head()
    boxes = torch.tensor([[84., 32., 114., 92.], [130., 100., 190., 220.]],
                         dtype=torch.float64)
    kp = torch.stack([
        torch.rand(17, 2, dtype=torch.float64) * (b[2:] - b[:2]) + b[:2]
        for b in boxes
    ])
    vis = torch.ones(2, 17, dtype=torch.float64)
    sizes = [(32, 32), (16, 16), (8, 8)]
    outs, _ = ideal_raw_outputs(head, boxes, torch.tensor([0, 0]), kp, vis, 1,
                                sizes)
    ds = _sample((256, 256), boxes.numpy(), kp.numpy(), vis.numpy())
    losses = head.loss_by_feat([o.double() for o in outs], [ds])
    assert losses['loss_kpt'] < 1e-6
    assert losses['loss_bbox'] < 1e-6
    assert losses['loss_kpt_vis'] < 1e-6
    # objectness targets are IoU = 1 at the positives: loss tiny too
    assert losses['loss_obj'] < 1e-6
    # perturbing the keypoints raises only the keypoint loss
    outs2 = [o.double().clone() for o in outs]
    for o in outs2:
        o[..., 6::3] += 0.2
    losses2 = head.loss_by_feat(outs2, [ds])
    assert losses2['loss_kpt'] > 1e-3
    assert losses2['loss_bbox'] < 1e-6


# ------------------------------------------------------------ overfitting
@pytest.mark.slow
def test_tiny_model_overfits_coco_tiny(tmp_path):
    """The tiny config, trained by mmengine's Runner on the 4 shipped images
    (300 iterations: ~1 min on 2 idle cores, 8-13 min on a loaded shared
    machine), then evaluated on them by its CocoMetric: AP 0.873 when this
    test was written; an untrained or broken head gives 0."""
    from mmengine.runner import Runner
    cfg = Config.fromfile(TINY)
    cfg.work_dir = str(tmp_path)
    cfg.train_cfg.val_interval = 10**6  # evaluate once, below
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=-1)
    t0 = time.time()
    runner = Runner.from_cfg(cfg)
    runner.train()
    train_s = time.time() - t0
    metrics = runner.val_loop.run()
    print(f'tiny YOLO-Pose: {cfg.train_cfg.max_epochs} iterations in '
          f'{train_s:.0f} s, COCO AP {metrics["coco/AP"]:.3f}, AP50 '
          f'{metrics["coco/AP .5"]:.3f}')
    assert metrics['coco/AP'] > 0.5


# ------------------------------------------------------- original layout
def test_dw_keypoint_branch_is_the_originals():
    """``extra_stacked_convs=6``: YOLO-Pose's ``dw_conv_kpt`` branch, 6
    depthwise 3x3 convs with a 1x1 conv between each two, then the output
    conv (12 layers, in the original's order)."""
    head = build_head(strides=(8, 16, 32, 64), in_channels=[8, 16, 24, 32],
                      extra_stacked_convs=6)
    for c, branch in zip([8, 16, 24, 32], head.extra_convs):
        assert len(branch) == 12
        for i, layer in enumerate(branch[:11]):
            conv = layer.conv
            if i % 2 == 0:
                assert (conv.kernel_size, conv.groups) == ((3, 3), c)
            else:
                assert (conv.kernel_size, conv.groups) == ((1, 1), 1)
            assert conv.bias is None and layer.bn.eps == 1e-3
        assert isinstance(branch[11], torch.nn.Conv2d)
        assert tuple(branch[11].weight.shape) == (3 * 51, c, 1, 1)


def test_original_layout_is_cat_then_view():
    """``layout='original'`` splits cat(box conv, keypoint branch) into
    anchors as the original ``view(bs, na, no, ny, nx)`` does; anchor 0's
    box comes from the box conv in both layouts, anchors 1-2's from the
    keypoint branch in the original one only."""
    torch.manual_seed(0)
    feats = [torch.randn(2, 16, s, s) for s in (8, 4)]
    heads = {
        layout: build_head(strides=(8, 16), in_channels=16,
                           extra_stacked_convs=1, layout=layout,
                           anchors=(((10, 13), (16, 30), (33, 23)),
                                    ((30, 61), (62, 45), (59, 119)))).eval()
        for layout in ('original', 'per_anchor')
    }
    heads['per_anchor'].load_state_dict(heads['original'].state_dict())
    outs = {k: h(feats) for k, h in heads.items()}
    head = heads['original']
    for lvl, x in enumerate(feats):
        B, _, H, W = x.shape
        det, kpt = head.det_convs[lvl](x), head.extra_convs[lvl](x)
        want = torch.cat([det, kpt], 1).view(B, 3, 57, H, W)
        assert torch.equal(outs['original'][lvl],
                           want.permute(0, 1, 3, 4, 2))
        clean = torch.cat([det.view(B, 3, 6, H, W), kpt.view(B, 3, 51, H, W)],
                          2).permute(0, 1, 3, 4, 2)
        assert torch.equal(outs['per_anchor'][lvl], clean)
        o, p = outs['original'][lvl], outs['per_anchor'][lvl]
        assert torch.equal(o[:, 0, ..., :6], p[:, 0, ..., :6])
        assert not torch.allclose(o[:, 1, ..., :6], p[:, 1, ..., :6])
    with pytest.raises(ValueError, match='layout'):
        build_head(layout='interleaved')
