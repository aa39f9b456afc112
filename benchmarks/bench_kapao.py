"""KAPAO: end-to-end latency of kapao_s6 vs yolopose_s6.

Fusion alone against the original loop: ``bench_kapao_fusion.py``.

End-to-end (CPU): ``kapao_s6_4xb16-300e_coco-640.py`` against
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

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)


def median_ms(fn, repeats, warmup=2):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, {args.threads} thread(s)')
    bench_models(args.repeats, args.active)


if __name__ == '__main__':
    main()
