"""Faithful loss mode of YOLOPoseHead / KAPAOHead against the originals.

The fixtures ``tests/data/onestage/{yolopose,kapao}_loss.npz`` hold the
original ``ComputeLoss`` (after ``train.py``'s gain rescaling) on raw head
outputs of the tiny original models for the 4 ``data/coco_tiny`` images at
256 px: the loss items, the total and its gradients w.r.t. the raw outputs
(``tools/make_loss_fixtures.py``). The heads here are built from the paper
configs' head settings (faithful mode); only the raw outputs and targets are
given to ``loss_by_feat``.
"""
import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from mmengine.config import Config
from mmengine.structures import InstanceData
from mmpose.registry import MODELS
from mmpose.structures import PoseDataSample

import posekit_plugins  # noqa: F401  (registration)
from posekit_plugins.models.heads import yolo_anchor_head
from posekit_plugins.models.losses import (
    OKSKeypointLoss,
    YOLOPoseOKSLoss,
    YOLOv5CIoULoss,
    yolov5_ciou,
)

REPO = Path(__file__).resolve().parents[3]
DATA = REPO / 'tests' / 'data' / 'onestage'
CONFIGS = dict(
    yolopose=REPO / 'configs' / 'yolopose_s6_4xb16-300e_coco-640.py',
    kapao=REPO / 'configs' / 'kapao_s6_4xb16-300e_coco-640.py')
TERM_KEYS = dict(
    yolopose=dict(lbox='loss_bbox', lobj='loss_obj', lcls='loss_cls',
                  lkpt='loss_kpt', lkptv='loss_kpt_vis'),
    kapao=dict(lbox='loss_bbox', lobj='loss_obj', lcls='loss_cls',
               lkps='loss_kpt'))
RTOL = 1e-4
_HEAD_CFG = {}


def head_cfg(name):
    if name not in _HEAD_CFG:
        cfg = Config.fromfile(str(CONFIGS[name])).model.head.to_dict()
        cfg.update(in_channels=[4] * 4)  # no layers are run
        cfg.pop('extra_stacked_convs', None)
        cfg.pop('layout', None)
        _HEAD_CFG[name] = cfg
    return dict(_HEAD_CFG[name])


def build(name, **kw):
    cfg = head_cfg(name)
    cfg.update(kw)
    if cfg.get('loss_options') is None:
        cfg.pop('loss_options', None)
    return MODELS.build(cfg)


def load(name):
    arrays = np.load(DATA / f'{name}_loss.npz')
    meta = json.loads((DATA / f'{name}_loss.json').read_text())
    return arrays, meta


def case_inputs(arrays, case, size):
    """Dense raw outputs (requiring grad) and mmpose data samples."""
    outs = []
    for lvl in range(4):
        o = torch.zeros(tuple(arrays[f'{case}_shape_{lvl}']))
        o[..., 4] = torch.from_numpy(arrays[f'{case}_obj_{lvl}'])
        pos = torch.from_numpy(arrays[f'{case}_pos_{lvl}'].astype(np.int64))
        o[tuple(pos.T)] = torch.from_numpy(arrays[f'{case}_posval_{lvl}'])
        outs.append(o.requires_grad_(True))
    img = arrays[f'{case}_gt_img']
    samples = []
    for i in range(outs[0].shape[0]):
        m = img == i
        ds = PoseDataSample(metainfo=dict(input_size=(size, size)))
        ds.gt_instance_labels = InstanceData(
            bboxes=torch.from_numpy(arrays[f'{case}_gt_bboxes'][m]),
            labels=torch.zeros(int(m.sum()), dtype=torch.long),
            keypoints=torch.from_numpy(arrays[f'{case}_gt_keypoints'][m]),
            keypoints_visible=torch.from_numpy(
                arrays[f'{case}_gt_visible'][m]))
        samples.append(ds)
    return outs, samples


def rel_err(a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def grads_vs_original(arrays, case, grads):
    """Max relative difference of the gradients (relative to the largest
    original gradient of the level) on the obj channel and the positives;
    the gradient must be 0 elsewhere, as the original's."""
    errs = []
    for lvl, g in enumerate(grads):
        pos = tuple(
            torch.from_numpy(arrays[f'{case}_pos_{lvl}'].astype(
                np.int64)).T)
        ref_obj = arrays[f'{case}_gradobj_{lvl}']
        ref_pos = arrays[f'{case}_gradpos_{lvl}']
        scale = max(np.abs(ref_obj).max(), np.abs(ref_pos).max(initial=0))
        errs.append(
            max(np.abs(g[..., 4].numpy() - ref_obj).max(),
                np.abs(g[pos].numpy() - ref_pos).max(initial=0)) / scale)
        rest = g.clone()
        rest[..., 4] = 0
        rest[pos] = 0
        assert not rest.any(), f'level {lvl}: gradient off the support'
    return max(errs)


@pytest.mark.parametrize('name', ['yolopose', 'kapao'])
def test_faithful_equals_original_compute_loss(name):
    arrays, meta = load(name)
    size = meta['input_size']
    head = build(name)
    assert head.loss_mode == 'faithful'
    outs, samples = case_inputs(arrays, 'batch', size)
    B = len(samples)
    losses = head.loss_by_feat(outs, samples)
    terms = dict(zip(meta['terms'], arrays['batch_terms']))
    for orig, ours in TERM_KEYS[name].items():
        ref = terms[orig]
        got = float(losses[ours].detach()) / B
        if ref == 0:
            assert got == 0, (orig, got)
        else:
            assert rel_err(got, ref) < RTOL, (orig, got, ref)
    total = sum(losses.values())
    assert rel_err(float(total.detach()), arrays['batch_total']) < RTOL
    grads = torch.autograd.grad(total, outs)
    assert grads_vs_original(arrays, 'batch', grads) < RTOL


def test_no_visible_keypoint_yolopose():
    """One person without labelled keypoints: the original's keypoint loss
    is 0/0 = NaN (so are its total and gradients); ours skips the term (the
    one forced departure) and matches every other term."""
    arrays, meta = load('yolopose')
    terms = dict(zip(meta['terms'], arrays['novis_terms']))
    assert np.isnan(terms['lkpt']) and np.isnan(arrays['novis_total'])
    outs, samples = case_inputs(arrays, 'novis', meta['input_size'])
    losses = build('yolopose').loss_by_feat(outs, samples)
    assert float(losses['loss_kpt'].detach()) == 0
    for orig in ('lbox', 'lobj', 'lkptv'):
        got = float(losses[TERM_KEYS['yolopose'][orig]].detach())
        assert rel_err(got, terms[orig]) < RTOL
    grads = torch.autograd.grad(sum(losses.values()), outs)
    assert all(bool(torch.isfinite(g).all()) for g in grads)


def test_no_visible_keypoint_kapao():
    """KAPAO's original skips the keypoint term itself: all equal."""
    arrays, meta = load('kapao')
    outs, samples = case_inputs(arrays, 'novis', meta['input_size'])
    losses = build('kapao').loss_by_feat(outs, samples)
    terms = dict(zip(meta['terms'], arrays['novis_terms']))
    assert terms['lkps'] == 0 and float(losses['loss_kpt'].detach()) == 0
    total = sum(losses.values())
    assert rel_err(float(total.detach()), arrays['novis_total']) < RTOL
    grads = torch.autograd.grad(total, outs)
    assert grads_vs_original(arrays, 'novis', grads) < RTOL


# --------------------------------------------------------------- switches
def batch_losses(name, **kw):
    arrays, meta = load(name)
    outs, samples = case_inputs(arrays, 'batch', meta['input_size'])
    losses = build(name, **kw).loss_by_feat(outs, samples)
    return {k: float(v.detach()) for k, v in losses.items()}


def test_switch_world_size(monkeypatch):
    base = batch_losses('kapao')
    monkeypatch.setattr(yolo_anchor_head, 'get_world_size', lambda: 3)
    on = batch_losses('kapao', loss_options=dict(world_size_scaling=True))
    off = batch_losses('kapao', loss_options=dict(world_size_scaling=False))
    for k in base:
        assert on[k] == pytest.approx(3 * base[k], rel=1e-6)
        assert off[k] == pytest.approx(base[k], rel=1e-6)
    # the faithful preset has it on
    assert build('kapao', loss_options=None).loss_opts['world_size_scaling']


def test_world_size_applied_once_in_every_config():
    """The original's ``loss *= world_size`` must be applied exactly once:
    by the head (``world_size_scaling``) or by ``YOLOv5OptimWrapper``
    (``loss_scale_by_world_size``, default True); the posekit configs do
    neither (as before)."""
    for f in sorted((REPO / 'configs').glob('*.py')):
        cfg = Config.fromfile(str(f))
        head = cfg.model.get('head', {})
        if head.get('type') not in ('YOLOPoseHead', 'KAPAOHead'):
            continue
        mode = head.get('loss_mode', 'posekit')
        by_head = (head.get('loss_options') or {}).get(
            'world_size_scaling', mode == 'faithful')
        ow = cfg.optim_wrapper
        by_wrapper = ow.get('type') == 'YOLOv5OptimWrapper' and ow.get(
            'loss_scale_by_world_size', True)
        if mode == 'faithful':
            assert by_head + by_wrapper == 1, f.name
        else:
            assert not by_head and not by_wrapper, f.name


def test_switch_train_single_class_and_cls_gain():
    base = batch_losses('yolopose')
    assert base['loss_cls'] == 0  # the original skips it with one class
    on = batch_losses('yolopose', loss_options=dict(train_single_class=True))
    assert on['loss_cls'] > 0
    for k in base:
        if k != 'loss_cls':
            assert on[k] == base[k]
    no80 = batch_losses(
        'yolopose',
        loss_options=dict(train_single_class=True, cls_gain_nc80=False))
    assert no80['loss_cls'] == pytest.approx(80 * on['loss_cls'], rel=1e-5)


def test_switch_kpt_gains():
    base = batch_losses('yolopose')
    lvl = batch_losses('yolopose', loss_options=dict(kpt_gain_per_level=True))
    assert lvl['loss_kpt'] == pytest.approx(0.75 * base['loss_kpt'], 1e-6)
    vis = batch_losses('yolopose',
                       loss_options=dict(kpt_vis_gain_as_cls=False))
    assert vis['loss_kpt_vis'] == pytest.approx(80 * base['loss_kpt_vis'],
                                                rel=1e-5)


def test_switch_label_smoothing():
    base = batch_losses('kapao')
    ls = batch_losses('kapao', loss_options=dict(label_smoothing=0.1))
    assert ls['loss_cls'] != base['loss_cls']
    assert {k: v for k, v in ls.items() if k != 'loss_cls'} == \
        {k: v for k, v in base.items() if k != 'loss_cls'}


def test_switch_obj_target_max_iou():
    head = build('kapao')
    flat = torch.tensor([3, 3, 5, 3])
    iou = torch.tensor([0.9, 0.2, 0.5, 0.4])
    last = torch.zeros(8)
    head._set_obj_target(last, flat, iou)
    assert last.tolist() == pytest.approx([0, 0, 0, 0.4, 0, 0.5, 0, 0])
    head = build('kapao', loss_options=dict(obj_target_max_iou=True))
    best = torch.zeros(8)
    head._set_obj_target(best, flat, iou)
    assert best.tolist() == pytest.approx([0, 0, 0, 0.9, 0, 0.5, 0, 0])
    # the fixture has such collisions: the max changes the obj loss
    assert batch_losses('kapao')['loss_obj'] != batch_losses(
        'kapao', loss_options=dict(obj_target_max_iou=True))['loss_obj']


def one_person(kx):
    ds = PoseDataSample(metainfo=dict(input_size=(256, 256)))
    kpts = torch.full((1, 17, 2), 110.0)
    kpts[0, 0, 0] = kx
    vis = torch.zeros(1, 17)
    vis[0, :2] = 1
    ds.gt_instance_labels = InstanceData(
        bboxes=torch.tensor([[80.0, 60.0, 120.0, 140.0]]),
        labels=torch.zeros(1, dtype=torch.long), keypoints=kpts,
        keypoints_visible=vis)
    return ds


def test_switch_kpt_mask_from_visibility():
    """Keypoint 0 at x = 96 = 12 cells of stride 8 (the person's cell):
    the original's mask (x != 0 after the cell offset) drops it there; at
    x = 96.5 it does not. By visibility both are visible."""
    torch.manual_seed(0)
    outs = [torch.randn(1, 3, s, s, 57) for s in (32, 16, 8, 4)]
    for opts, same in ((dict(), False),
                       (dict(kpt_mask_from_visibility=True), True)):
        head = build('yolopose', loss_options=opts)
        a = head.loss_by_feat(outs, [one_person(96.0)])['loss_kpt_vis']
        b = head.loss_by_feat(outs, [one_person(96.5)])['loss_kpt_vis']
        assert bool(a == b) is same


def test_switch_clip_keypoint_objects():
    ds = one_person(1.0)
    for clip in (True, False):
        head = build('kapao', loss_options=dict(clip_keypoint_objects=clip))
        t = head.get_targets([ds], torch.device('cpu'), torch.float32)
        kp0 = t['bboxes'][t['labels'] == 1][0]
        if clip:
            assert float(kp0[0]) == 0
        else:
            assert float(kp0[0]) == pytest.approx(1 - 6.4)


def test_target_order_follows_the_original_labels():
    head = build('kapao')
    t = head.get_targets([one_person(1.0)], torch.device('cpu'),
                         torch.float32)
    assert t['labels'].tolist() == [0, 1, 2]  # person, then its keypoints
    head = build('kapao', loss_mode='posekit')
    assert head.loss_opts['clip_keypoint_objects'] is False


def test_posekit_mode_is_the_tiny_configs():
    for f in ('yolopose_tiny_1xb4-300e_coco-tiny-256.py',
              'kapao_tiny_1xb4-300e_coco-tiny-256.py'):
        h = Config.fromfile(str(REPO / 'configs' / f)).model.head
        assert h.get('loss_mode', 'posekit') == 'posekit'
        assert h.loss_bbox.type == 'mmdet.CIoULoss'
    with pytest.raises(ValueError, match='unknown loss_options'):
        build('kapao', loss_options=dict(nope=1))
    with pytest.raises(ValueError, match='loss_mode'):
        build('kapao', loss_mode='bogus')


# ---------------------------------------------------------- loss modules
def test_yolopose_oks_options():
    sig = [0.1, 0.2]
    pred = torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[0.5, 0.5], [2.0, 0.0]]])
    target = torch.zeros(2, 2, 2)
    vis = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
    area = torch.tensor([4.0, 9.0])
    d = pred.pow(2).sum(-1)
    s2 = torch.tensor(sig).pow(2)
    e_orig = d / (area[:, None] * 4 * s2 + 1e-9)
    per = (1 - torch.exp(-e_orig)) * vis
    orig = YOLOPoseOKSLoss(sigmas=sig)(pred, target, vis, area)
    assert float(orig) == pytest.approx(float(per.sum() / 3), rel=1e-6)
    inst = YOLOPoseOKSLoss(sigmas=sig, average='instance')(pred, target, vis,
                                                           area)
    ref = (per[0].sum() / 1 + per[1].sum() / 2) / 2
    assert float(inst) == pytest.approx(float(ref), rel=1e-6)
    # the metric's exponent is half the original's; with 'instance' this
    # is OKSKeypointLoss
    metric = YOLOPoseOKSLoss(sigmas=sig, exponent='metric',
                             average='instance')(pred, target, vis, area)
    e_m = d / (8 * s2 * area[:, None])
    assert torch.allclose(e_m, e_orig / 2, rtol=1e-6)
    assert float(metric) == pytest.approx(
        float(OKSKeypointLoss(sigmas=sig)(pred, target, vis, area)),
        rel=1e-6)
    # the forced guard: nothing visible gives 0 and a zero gradient
    p = pred.clone().requires_grad_(True)
    z = YOLOPoseOKSLoss(sigmas=sig)(p, target, torch.zeros(2, 2), area)
    z.backward()
    assert float(z) == 0 and bool((p.grad == 0).all())


def test_yolov5_ciou_vs_mmdet():
    from mmdet.models.losses.iou_loss import ciou_loss
    pred = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, 10.0]])
    target = torch.tensor([[1.0, 1.0, 11.0, 12.0], [5.0, 3.0, 25.0, 9.0]])
    ours = yolov5_ciou(pred, target)
    mm = 1 - ciou_loss(pred, target, reduction='none')
    assert float(ours[0]) == pytest.approx(float(mm[0]), abs=1e-5)
    # IoU < 0.5: mmdet drops the aspect term (alpha = 0), YOLOv5 does not
    assert float(ours[1]) < float(mm[1]) - 1e-3
    loss = YOLOv5CIoULoss(loss_weight=2.0)(pred, target)
    assert float(loss) == pytest.approx(float(2 * (1 - ours).mean()))


# --------------------------------------------------------- 2 processes
def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _dist_worker(rank, port, out_dir):
    import torch.distributed as dist
    from mmengine.dist import get_world_size

    torch.set_num_threads(1)
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{port}',
                            rank=rank, world_size=2)
    try:
        torch.manual_seed(0)
        outs = [torch.randn(2, 3, s, s, 57) for s in (32, 16, 8, 4)]
        res = dict(world_size=get_world_size())
        for ws in (True, False):
            head = build('yolopose',
                         loss_options=dict(world_size_scaling=ws))
            one = head.loss_by_feat([o[:1] for o in outs], [one_person(96.5)])
            two = head.loss_by_feat(
                [torch.cat([o[:1]] * 2) for o in outs],
                [one_person(96.5), one_person(96.5)])
            res[f'one_{ws}'] = float(sum(one.values()))
            res[f'two_{ws}'] = float(sum(two.values()))
        (Path(out_dir) / f'{rank}.json').write_text(json.dumps(res))
    finally:
        dist.destroy_process_group()


def test_total_is_multiplied_by_batch_and_world_size(tmp_path):
    """Under 2 gloo processes the faithful total is 2x the one without
    world-size scaling, and a batch of 2 copies doubles it (batch size)."""
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    head_cfg('yolopose')  # parsed once, inherited by the forked workers
    mp.start_processes(_dist_worker, args=(_free_port(), str(tmp_path)),
                       nprocs=2, join=True, start_method='fork')
    for rank in (0, 1):
        r = json.loads((tmp_path / f'{rank}.json').read_text())
        assert r['world_size'] == 2
        assert r['one_True'] == pytest.approx(2 * r['one_False'], rel=1e-6)
        assert r['two_False'] == pytest.approx(2 * r['one_False'], rel=1e-5)
        assert r['two_True'] == pytest.approx(4 * r['one_False'], rel=1e-5)
