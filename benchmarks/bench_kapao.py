"""KAPAO: fusion speed, and end-to-end latency of kapao_s6 vs yolopose_s6.

Part 1 (fusion): :func:`fuse_keypoint_objects` (vectorised) against two
straightforward loops over the keypoint objects, one object at a time as the
paper's code does it: the same loop on the same torch tensors (what the head
would run without vectorisation) and the paper's numpy loop
(:func:`fuse_keypoint_objects_sequential`, on CPU arrays, conversion not
timed). Scenes at 1280: P persons with 17 keypoints, their pose keypoints
6 px off, each keypoint detected as a keypoint object with probability 0.7
(2 px off), at most 300 objects (the keypoint NMS cap), scores uniform. All
three must give identical keypoints; the table gives the median time over
repeated calls and the ratio ``loop / vectorised``.

Part 2 (end-to-end, CPU): ``kapao_s6_4xb16-300e_coco-640.py`` against
``yolopose_s6_4xb16-300e_coco-640.py`` (same backbone and neck, randomly
initialised: nothing is downloaded) on a shipped COCO image letterboxed to
640, batch 1: the network forward (backbone + neck + head convolutions) and
the post-processing (decode + NMS [+ keypoint-object NMS + fusion]), median
of repeated runs. Random weights give no meaningful candidates (YOLO-Pose's
class prior even makes every anchor a candidate, KAPAO's none), so the
post-processing runs on the network's raw outputs with a controlled load:
``--active`` random anchors made confident persons, and for KAPAO as many
more made confident keypoint objects; the rest background. KAPAO is also
timed with fusion off.

    python benchmarks/bench_kapao.py [--threads 1] [--repeats 20] [--active 1000]
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
K = 17


def make_scene(rng, P, size=1280, cap=300):
    centres = rng.uniform(100, size - 100, (P, 2))
    scale = rng.uniform(30, 150, (P, 1, 1))
    gt = centres[:, None] + scale * rng.uniform(-1, 1, (1, K, 2))
    pose = gt + rng.normal(0, 6, gt.shape)
    person_scores = rng.uniform(0.1, 1.0, P)
    detected = rng.random((P, K)) < 0.7
    xy = gt[detected] + rng.normal(0, 2, (int(detected.sum()), 2))
    labels = np.nonzero(detected)[1]
    scores = rng.uniform(0.2, 1.0, len(xy))
    keep = np.argsort(-scores, kind='stable')[:cap]
    return pose, person_scores, xy[keep], scores[keep], labels[keep]


def torch_loop(pose, person_scores, xy, scores, labels, tol=50.0, thr=0.3):
    """The paper's loop written on torch tensors: one object at a time."""
    kps = pose.clone()
    conf = pose.new_zeros(pose.shape[:2])
    persons = (person_scores > thr).nonzero(as_tuple=True)[0]
    if persons.numel() == 0:
        return kps, conf
    for m in torch.sort(scores, descending=True, stable=True).indices.tolist():
        k = int(labels[m])
        d2 = (kps[persons, k] - xy[m]).square().sum(-1)
        n = int(d2.argmin())
        p = persons[n]
        if scores[m] > conf[p, k] and d2[n] < tol * tol:
            kps[p, k] = xy[m]
            conf[p, k] = scores[m]
    return kps, conf


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def bench_fusion(repeats):
    from posekit_plugins.models.utils import (
        fuse_keypoint_objects,
        fuse_keypoint_objects_sequential,
    )
    rng = np.random.default_rng(0)
    rows = []
    for P in (1, 20, 100):
        pose, ps, xy, sc, lab = make_scene(rng, P)
        # float32 tensors, as the head passes them
        t = [torch.from_numpy(a).float() for a in (pose, ps, xy, sc)]
        t.append(torch.from_numpy(lab))
        out = fuse_keypoint_objects(*t)
        loop_kps, _ = torch_loop(*t)
        ref_kps, _, _ = fuse_keypoint_objects_sequential(
            *[a.numpy() for a in t])
        assert torch.equal(out.keypoints, loop_kps)
        assert np.allclose(out.keypoints.numpy(), ref_kps, atol=1e-4)
        arrs = [a.numpy() for a in t]
        t_vec = median_ms(lambda t=t: fuse_keypoint_objects(*t), repeats * 5)
        t_loop = median_ms(lambda t=t: torch_loop(*t), repeats)
        t_np = median_ms(
            lambda a=arrs: fuse_keypoint_objects_sequential(*a), repeats * 2)
        rows.append((P, len(xy), out.rounds, t_vec, t_loop, t_np))
    print('\nFusion (CPU, median ms per image)')
    print('| persons | keypoint objects | rounds | vectorised | torch loop '
          '| ratio | numpy loop (paper) | ratio |')
    print('|---:|---:|---:|---:|---:|---:|---:|---:|')
    for P, M, r, tv, tl, tn in rows:
        print(f'| {P} | {M} | {r} | {tv:.3f} | {tl:.3f} | {tl / tv:.1f}x '
              f'| {tn:.3f} | {tn / tv:.1f}x |')


def _active_outputs(head, outs, n_active, gen):
    """Raw outputs with a controlled candidate load: ``n_active`` random
    anchor slots are confident persons (pose objects); for KAPAO another
    ``n_active`` slots are confident keypoint objects of random types.
    Every other slot is background. Boxes and keypoints stay the network's
    (random weights)."""
    sizes = [o[0, ..., 0].numel() for o in outs]
    total = sum(sizes)
    perm = torch.randperm(total, generator=gen)
    person, kpt_obj = perm[:n_active], perm[n_active:2 * n_active]
    flat = torch.cat([o.reshape(o.shape[0], -1, o.shape[-1]) for o in outs],
                     dim=1).clone()
    nc = head.num_classes
    flat[..., 4:5 + nc] = -10.0
    flat[:, person, 4] = 2.0 + torch.randn(n_active, generator=gen) * 0.5
    flat[:, person, 5] = 5.0
    if nc > 1:  # KAPAO: keypoint objects
        flat[:, kpt_obj, 4] = 2.0 + torch.randn(n_active, generator=gen) * 0.5
        k = torch.randint(1, nc, (n_active, ), generator=gen)
        flat[:, kpt_obj, 5 + k] = 5.0
    out, start = [], 0
    for o, n in zip(outs, sizes):
        out.append(flat[:, start:start + n].reshape(o.shape))
        start += n
    return out


def bench_models(repeats, n_active):
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmpose.registry import DATASETS, MODELS
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules()

    rows = []
    variants = [('yolopose_s6_4xb16-300e_coco-640.py', {}),
                ('kapao_s6_4xb16-300e_coco-640.py', {}),
                ('kapao_s6_4xb16-300e_coco-640.py',
                 dict(fuse_keypoint_objects=False))]
    for name, test_cfg in variants:
        cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
        cfg.model.backbone.init_cfg = None
        torch.manual_seed(0)
        model = MODELS.build(cfg.model).eval()
        head = model.head
        head.init_weights()
        test_cfg = dict(cfg.model.test_cfg, **test_cfg)
        ds_cfg = Config.fromfile(
            osp.join(ROOT, 'configs/_base_/datasets/coco-tiny_bottomup.py'))
        ds_cfg = ds_cfg.val_dataloader.dataset
        ds_cfg.pipeline = cfg.val_pipeline
        dataset = DATASETS.build(ds_cfg)
        data = model.data_preprocessor(pseudo_collate([dataset[0]]), False)
        inputs, samples = data['inputs'], data['data_samples']
        params = sum(p.numel() for p in model.parameters()) / 1e6

        def forward(model=model, inputs=inputs):
            return model.head.forward(model.extract_feat(inputs))

        with torch.no_grad():
            t_fwd = median_ms(forward, repeats)
            outs = _active_outputs(head, forward(), n_active,
                                   torch.Generator().manual_seed(0))

            def post(head=head, outs=outs, samples=samples, cfg=test_cfg):
                return head.predict_by_feat(outs, samples, cfg)

            t_post = median_ms(post, repeats)
            n_kept = len(post()[0])
        label = name[:-3] + (' (fusion off)' if test_cfg.get(
            'fuse_keypoint_objects') is False else '')
        rows.append((label, params, tuple(inputs.shape[2:]), t_fwd, t_post,
                     n_kept))
    print(f'\nEnd to end (CPU, batch 1, median ms per image; post-processing '
          f'with {n_active} confident person anchors, + {n_active} keypoint-'
          'object anchors for KAPAO)')
    print('| model | params (M) | input | forward | post-processing '
          '| total | persons kept |')
    print('|---|---:|---:|---:|---:|---:|---:|')
    for name, params, size, tf, tp, n in rows:
        print(f'| {name} | {params:.2f} | {size[1]}x{size[0]} | {tf:.1f} '
              f'| {tp:.1f} | {tf + tp:.1f} | {n} |')
    base, kapao, nofuse = rows
    print(f'\nkapao_s6 / yolopose_s6 total: '
          f'{(kapao[3] + kapao[4]) / (base[3] + base[4]):.2f}x '
          f'(fusion off: {(nofuse[3] + nofuse[4]) / (base[3] + base[4]):.2f}x)')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (1: stable on shared cores)')
    parser.add_argument('--repeats', type=int, default=20)
    parser.add_argument('--active', type=int, default=1000,
                        help='confident anchors in the post-processing load')
    parser.add_argument('--skip-models', action='store_true')
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {args.threads} thread(s)')
    bench_fusion(args.repeats)
    if not args.skip_models:
        bench_models(args.repeats, args.active)


if __name__ == '__main__':
    main()
