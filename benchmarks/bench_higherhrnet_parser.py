"""Grouping speed: our HigherHRNetParser.parse against the original
HeatmapParser.parse (greatlog/SWAHR-HumanPose) on the same aggregated maps.

The maps are the aggregated heatmaps/tags of the 4 fixture images
(``tests/data/swahr/orig_test.npz``, made by
``tools/make_swahr_fixtures.py``), optionally upsampled (``--upsample``) to
bench larger inputs. The original runs in a subprocess with its checkout's
``lib`` on the path (it needs ``yacs``: ``--deps``). CPU only::

    python benchmarks/bench_higherhrnet_parser.py --swahr /tmp/orig/swahr \\
        --deps /tmp/swahrdeps --repeats 5 --upsample 1 4
"""
import argparse
import json
import os.path as osp
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(ROOT, 'tests', 'data', 'swahr')
YAML = 'experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml'


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--swahr', required=True)
    p.add_argument('--deps')
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--upsample', type=int, nargs='+', default=[1, 4])
    p.add_argument('--worker', help=argparse.SUPPRESS)
    return p.parse_args()


def aggregated_maps(factor):
    import numpy as np
    import torch
    import torch.nn.functional as F
    sys.path.insert(0, ROOT)
    from posekit_plugins.codecs import HigherHRNetParser
    z = np.load(osp.join(DATA, 'orig_test.npz'))
    meta = json.load(open(osp.join(DATA, 'orig_test.json')))
    K = meta['settings']['num_joints']
    parser = HigherHRNetParser(flip_indices=meta['settings']['flip_index'])
    maps = []
    for i in range(len(meta['images'])):
        outs, flips = [], []
        for r in range(2):
            for prefix, lst in (('out', outs), ('flip', flips)):
                o = torch.from_numpy(z[f'{prefix}{i}_{r}'].astype(np.float32))
                o = torch.cat([torch.zeros(K, *o.shape[1:]), o])[None]
                if factor > 1:
                    o = F.interpolate(o, scale_factor=factor, mode='bilinear',
                                      align_corners=False)
                lst.append(o)
        hm, tg = parser.aggregate(outs, flips)
        maps.append((hm, tg))
    return parser, maps


def run_worker(args):
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    sys.path.insert(0, osp.join(args.swahr, 'lib'))
    if args.deps:
        sys.path.insert(1, args.deps)
    from config import cfg as default_cfg
    from core.group import HeatmapParser
    cfg = default_cfg.clone()
    cfg.defrost()
    cfg.merge_from_file(osp.join(args.swahr, YAML))
    parser = HeatmapParser(cfg)
    z = np.load(args.worker)
    n = len([k for k in z.files if k.startswith('hm')])
    maps = [(torch.from_numpy(z[f'hm{i}']), torch.from_numpy(z[f'tg{i}']))
            for i in range(n)]
    times, people = [], []
    for rep in range(args.repeats + 1):
        t0 = time.perf_counter()
        for hm, tg in maps:
            grouped, scores = parser.parse(hm, tg, True, True)
            if rep == 0:
                people.append(len(grouped[0]))
        if rep:
            times.append(time.perf_counter() - t0)
    print(json.dumps(dict(times=times, people=people)))


def main():
    args = parse_args()
    if args.worker:
        return run_worker(args)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    rows = []
    for factor in args.upsample:
        parser, maps = aggregated_maps(factor)
        times, people = [], []
        for rep in range(args.repeats + 1):
            t0 = time.perf_counter()
            for hm, tg in maps:
                res = parser.parse(hm, tg)[0]
                if rep == 0:
                    people.append(len(res['people']))
            if rep:
                times.append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory() as tmp:
            f = osp.join(tmp, 'maps.npz')
            arrays = {}
            for i, (hm, tg) in enumerate(maps):
                arrays[f'hm{i}'] = hm.numpy()
                arrays[f'tg{i}'] = tg.numpy()
            np.savez(f, **arrays)
            cmd = [sys.executable, osp.abspath(__file__), '--swahr',
                   args.swahr, '--repeats', str(args.repeats), '--threads',
                   str(args.threads), '--worker', f]
            if args.deps:
                cmd += ['--deps', args.deps]
            out = subprocess.run(cmd, check=True, capture_output=True,
                                 text=True).stdout
        orig = json.loads(out.strip().splitlines()[-1])
        H, W = maps[0][0].shape[2:]
        ours_ms = 1e3 * np.median(times) / len(maps)
        orig_ms = 1e3 * np.median(orig['times']) / len(maps)
        rows.append((f'{H}x{W}', sum(people), sum(orig['people']), orig_ms,
                     ours_ms, orig_ms / ours_ms))
    print(f'CPU, {args.threads} threads, median of {args.repeats} runs over '
          f'the 4 fixture images, ms per image (parse: NMS, top-k, '
          f'grouping, adjust, refine)\n')
    print('| maps (first image) | people (ours / original) | original ms | '
          'ours ms | speed-up |')
    print('|---|---|---|---|---|')
    for size, p1, p2, o, s, r in rows:
        print(f'| {size} | {p1} / {p2} | {o:.1f} | {s:.1f} | {r:.2f}x |')


if __name__ == '__main__':
    main()
