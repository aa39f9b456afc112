"""HigherHRNet-W32 + SWAHR forward latency: ours vs the original's.

Our model (mmpose's ``HRNet`` + :class:`AEHigherHRNetHead`, built from
``configs/ae_higherhrnet-w32_swahr-8xb24-300e_coco-512x512.py`` with the
backbone's ``init_cfg=None``) against the authors' ``PoseHigherResolutionNet``
(greatlog/SWAHR-HumanPose, built from its
``experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml``) on the same
weights: the original's random weights (or ``--checkpoint``, a released
file), converted with ``convert_swahr_checkpoint``. What is timed is the
model's forward, backbone and head, both resolutions (``extract_feat`` +
``head.forward`` for ours, ``model(x)`` for the original), batch 1, one
fixed normalised ``--size`` x ``--size`` input, eval mode, ``torch.no_grad``,
on the CPU with ``--threads`` torch threads (1 by default).

The original's code (GPL-3.0) is not part of this repository and is only
run: each model lives in its own worker subprocess (the original imports
top-level packages such as ``models``, ``config`` and ``utils`` from its
``lib``), so both sides have the same kind of process. The workers wait on
a pipe between rounds, so only one of them computes at a time; the rounds
alternate (ours, original, original, ours, ...) so that a loaded machine
slows both alike. Each round runs ``--iters`` forwards; the table gives
each side's median and minimum per forward over all rounds and the median
of the per-round-pair ratios ours / original. Before timing, the two
outputs on the input are compared (max abs difference per resolution).

Usage (``yacs`` etc. for the original outside the virtual environment, as
for ``tools/make_swahr_fixtures.py``)::

    python benchmarks/bench_higherhrnet_forward.py --swahr /tmp/orig/swahr \\
        --deps /tmp/swahrdeps [--rounds 10] [--iters 2] [--warmup 2]
        [--threads 1] [--size 512] [--checkpoint FILE]
"""
import argparse
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(ROOT, 'configs',
                  'ae_higherhrnet-w32_swahr-8xb24-300e_coco-512x512.py')
YAML = 'experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml'
SIDES = ('ours', 'original')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--swahr', required=True,
                        help='checkout of greatlog/SWAHR-HumanPose')
    parser.add_argument('--deps', help='folder with yacs (PYTHONPATH of the '
                        'original worker)')
    parser.add_argument('--checkpoint', help='an original (released) '
                        'checkpoint; random weights by default')
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--size', type=int, default=512)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--rounds', type=int, default=10)
    parser.add_argument('--iters', type=int, default=2,
                        help='forwards per round')
    parser.add_argument('--warmup', type=int, default=2)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--worker', choices=SIDES, help=argparse.SUPPRESS)
    parser.add_argument('--tmp', help=argparse.SUPPRESS)
    return parser.parse_args()


# --------------------------------------------------------------- workers


def _build_original(args):
    """The authors' model from its W32 yaml; its state dict is saved for the
    other worker (the checkpoint's, if given)."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from make_swahr_fixtures import stub_missing as _stub_missing
    sys.path.pop(0)
    sys.path.insert(0, osp.join(osp.abspath(args.swahr), 'lib'))
    if args.deps:
        sys.path.insert(1, osp.abspath(args.deps))
    # imported by the original's modules, not needed for the forward
    _stub_missing('IPython', embed=lambda *a, **k: None)
    cpt = _stub_missing('crowdposetools')
    if cpt is not None:
        sub = types.ModuleType('crowdposetools.cocoeval')
        sub.COCOeval = None
        cpt.cocoeval = sub
        sys.modules['crowdposetools.cocoeval'] = sub
    import models  # noqa: F401  (the original's lib/models)
    import torch
    from config import cfg as default_cfg
    from models.pose_higher_hrnet import get_pose_net

    cfg = default_cfg.clone()
    cfg.defrost()
    cfg.merge_from_file(osp.join(osp.abspath(args.swahr), YAML))
    cfg.MODEL.INIT_WEIGHTS = False
    cfg.freeze()
    torch.manual_seed(args.seed)
    model = get_pose_net(cfg, is_train=False)
    if args.checkpoint:
        state = torch.load(args.checkpoint, map_location='cpu')
        state = {k[len('module.'):] if k.startswith('module.') else k: v
                 for k, v in state.items()}
        model.load_state_dict(state, strict=True)
    torch.save(model.state_dict(), osp.join(args.tmp, 'weights.pth'))
    model.eval()
    return lambda x: model(x)


def _build_ours(args):
    sys.path.insert(0, ROOT)  # the checkout, not an installed copy
    from mmengine.config import Config
    from mmpose.apis import init_model
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    from posekit_plugins.utils import convert_swahr_checkpoint
    register_all_modules(init_default_scope=True)
    cfg = Config.fromfile(args.config)
    cfg.model.backbone.init_cfg = None
    state = convert_swahr_checkpoint(osp.join(args.tmp, 'weights.pth'), cfg)
    model = init_model(cfg, None, device='cpu')
    model.load_state_dict(state, strict=True)
    model.eval()
    return lambda x: model.head(model.extract_feat(x))


def run_worker(args):
    """Builds one side, saves its outputs on the fixed input, then answers
    ``n`` lines (on stdin) with the times of ``n`` forwards (a JSON line on
    the original stdout; everything else printed goes to stderr)."""
    reply = os.fdopen(os.dup(1), 'w')
    os.dup2(2, 1)
    import numpy as np
    import torch
    torch.set_num_threads(args.threads)
    forward = (_build_ours if args.worker == 'ours' else
               _build_original)(args)
    x = torch.from_numpy(np.load(osp.join(args.tmp, 'input.npy')))
    with torch.no_grad():
        outs = forward(x)
        np.savez(osp.join(args.tmp, f'{args.worker}_out.npz'),
                 *[o.numpy() for o in outs])
        for _ in range(args.warmup):
            forward(x)
    reply.write('ready\n')
    reply.flush()
    for line in sys.stdin:
        n = int(line)
        times = []
        with torch.no_grad():
            for _ in range(n):
                t = time.perf_counter()
                forward(x)
                times.append(time.perf_counter() - t)
        reply.write(json.dumps(times) + '\n')
        reply.flush()


# ---------------------------------------------------------------- parent


class Worker:

    def __init__(self, side, args, tmp):
        cmd = [sys.executable, osp.abspath(__file__), '--worker', side,
               '--tmp', tmp, '--swahr', args.swahr, '--config', args.config,
               '--threads', str(args.threads), '--warmup', str(args.warmup),
               '--seed', str(args.seed)]
        if args.deps:
            cmd += ['--deps', args.deps]
        if args.checkpoint:
            cmd += ['--checkpoint', args.checkpoint]
        env = dict(os.environ, OMP_NUM_THREADS=str(args.threads),
                   MKL_NUM_THREADS=str(args.threads))
        self.side = side
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True,
                                     env=env)
        self._expect_ready()

    def _expect_ready(self):
        line = self.proc.stdout.readline()
        if line.strip() != 'ready':
            self.proc.kill()
            raise RuntimeError(f'{self.side} worker failed to start '
                               f'(rc {self.proc.wait()})')

    def run(self, n):
        self.proc.stdin.write(f'{n}\n')
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def main():
    args = parse_args()
    if args.worker:
        return run_worker(args)
    import numpy as np
    import torch
    with tempfile.TemporaryDirectory() as tmp:
        gen = torch.Generator().manual_seed(args.seed)
        np.save(osp.join(tmp, 'input.npy'),
                torch.randn(1, 3, args.size, args.size,
                            generator=gen).numpy())
        # the original first: it makes (or loads) the weights
        workers = {'original': Worker('original', args, tmp)}
        workers['ours'] = Worker('ours', args, tmp)
        try:
            a = np.load(osp.join(tmp, 'ours_out.npz'))
            b = np.load(osp.join(tmp, 'original_out.npz'))
            diffs = []
            for k in sorted(b.files):
                assert a[k].shape == b[k].shape, (k, a[k].shape, b[k].shape)
                diffs.append((b[k].shape, float(np.abs(a[k] - b[k]).max()),
                              float(np.abs(b[k]).max())))
            times = {s: [] for s in SIDES}
            ratios = []
            for r in range(args.rounds):
                order = SIDES if r % 2 == 0 else SIDES[::-1]
                med = {}
                for side in order:
                    t = workers[side].run(args.iters)
                    times[side] += t
                    med[side] = statistics.median(t)
                ratios.append(med['ours'] / med['original'])
                print(f'round {r + 1}/{args.rounds}: ours '
                      f'{med["ours"] * 1e3:.1f} ms, original '
                      f'{med["original"] * 1e3:.1f} ms',
                      file=sys.stderr, flush=True)
        finally:
            for w in workers.values():
                w.close()

    print(f'\nHigherHRNet-W32 + SWAHR forward (backbone + head, both '
          f'resolutions), batch 1, {args.size}x{args.size}, CPU, '
          f'{args.threads} thread(s), torch {torch.__version__}, '
          f'{platform.processor() or platform.machine()}; '
          f'{args.rounds} alternating rounds x {args.iters} forwards '
          f'(after {args.warmup} warm-up), weights: '
          f'{args.checkpoint or "random (original init)"}\n')
    print('| model | median ms | min ms | mean ms |')
    print('|---|---:|---:|---:|')
    for side in SIDES:
        t = times[side]
        print(f'| {side} | {statistics.median(t) * 1e3:.1f} | '
              f'{min(t) * 1e3:.1f} | {statistics.mean(t) * 1e3:.1f} |')
    ratio = statistics.median(ratios)
    print(f'| ratio ours/original (median of per-round ratios) | '
          f'{ratio:.3f} | {min(times["ours"]) / min(times["original"]):.3f}'
          f' (of minima) | |')
    print()
    for i, (shape, d, m) in enumerate(diffs):
        print(f'output {i} {shape}: max abs diff {d:.3g} (max |original| '
              f'{m:.3g})')
    print(f'goal <= 1.05x: {"met" if ratio <= 1.05 else "NOT met"} '
          f'({ratio:.3f}x)')


if __name__ == '__main__':
    main()
