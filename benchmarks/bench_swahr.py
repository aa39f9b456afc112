"""SWAHR vs mmpose's KeypointMSELoss: training-step time, peak memory, AP.

Part 1 (cost): the top-down SimpleBaseline of
``configs/td-hm_res50_swahr-8xb64-210e_coco-256x192.py`` (ResNet-50, 256x192,
heatmaps 64x48) against the same model with mmpose's ``HeatmapHead`` +
``KeypointMSELoss``: same weights, same batch. One training step is forward +
loss + backward + Adam step.

- Time: both models live in one process and their steps alternate (plain,
  swahr, plain, swahr, ...), so a machine shared with other jobs slows both
  alike; the table gives each model's median step and the median of the
  per-pair ratios.
- Memory: each model runs a few steps in a fresh subprocess; on CUDA the
  peak of ``torch.cuda.max_memory_allocated``, on CPU the growth of the
  process's peak RSS over its RSS before the first step.

Part 2 (accuracy, ``--ap``): the two tiny configs
(``td-hm_res18_1xb12-300e_coco-tiny-128x96.py`` and its SWAHR twin, which
differ only in head and loss) trained for the same iterations on the 4
shipped images and evaluated on them.

    python benchmarks/bench_swahr.py [--device cpu|cuda] [--batch-size 4]
        [--steps 10] [--ap] [--ap-iters 40 300] [--skip-cost]
"""
import argparse
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)  # the checkout, not an installed copy
PLAIN_TINY = 'td-hm_res18_1xb12-300e_coco-tiny-128x96.py'
SWAHR_TINY = 'td-hm_res18_swahr-1xb12-300e_coco-tiny-128x96.py'
SWAHR_R50 = 'td-hm_res50_swahr-8xb64-210e_coco-256x192.py'
VARIANTS = ('plain', 'swahr')


def _rss_bytes() -> int:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _build(variant: str, device: str):
    """The ResNet-50 model of the SWAHR config, or its plain twin."""
    import torch
    from mmengine.config import Config
    from mmpose.registry import MODELS
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules()

    cfg = Config.fromfile(osp.join(ROOT, 'configs', SWAHR_R50))
    model_cfg = cfg.model.to_dict()
    model_cfg['backbone']['init_cfg'] = None  # nothing is downloaded
    if variant == 'plain':
        head = model_cfg['head']
        head['type'] = 'HeatmapHead'
        head.pop('scale_kernel_size')
        head['loss'] = dict(type='KeypointMSELoss', use_target_weight=True)
    torch.manual_seed(0)
    model = MODELS.build(model_cfg)
    model.init_weights()
    return model.to(device).train(), cfg.codec


def _batch(codec_cfg, batch_size: int, device: str):
    import numpy as np
    import torch
    from mmengine.structures import InstanceData, PixelData
    from mmpose.registry import KEYPOINT_CODECS
    from mmpose.structures import PoseDataSample

    codec = KEYPOINT_CODECS.build(codec_cfg)
    w, h = codec_cfg['input_size']
    rng = np.random.default_rng(0)
    samples = []
    for _ in range(batch_size):
        kpts = rng.uniform((0, 0), (w, h), size=(1, 17, 2))
        enc = codec.encode(kpts, np.ones((1, 17), np.float32))
        s = PoseDataSample()
        s.gt_fields = PixelData(
            heatmaps=torch.from_numpy(enc['heatmaps']).to(device))
        s.gt_instance_labels = InstanceData(keypoint_weights=torch.from_numpy(
            enc['keypoint_weights']).float().to(device))
        samples.append(s)
    torch.manual_seed(1)
    inputs = torch.randn(batch_size, 3, h, w, device=device)
    return inputs, samples


def _stepper(model, inputs, samples):
    import torch
    optim = torch.optim.Adam(model.parameters(), lr=1e-4)

    def step():
        losses = model.loss(inputs, samples)
        loss = sum(v for k, v in losses.items() if k.startswith('loss'))
        optim.zero_grad()
        loss.backward()
        optim.step()

    return step


def _sync(device: str) -> None:
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def bench_time(args) -> dict:
    """Alternating steps of both models in this process."""
    import torch
    torch.set_num_threads(args.threads)
    steps = {}
    for v in VARIANTS:
        model, codec_cfg = _build(v, args.device)
        steps[v] = _stepper(model, *_batch(codec_cfg, args.batch_size,
                                           args.device))
    for v in VARIANTS:  # warm-up
        for _ in range(2):
            steps[v]()
    _sync(args.device)
    times = {v: [] for v in VARIANTS}
    for i in range(args.steps):
        order = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
        for v in order:
            t0 = time.perf_counter()
            steps[v]()
            _sync(args.device)
            times[v].append(time.perf_counter() - t0)
    return times


def worker_mem(variant: str, device: str, batch_size: int,
               threads: int) -> int:
    """Peak memory of 3 training steps of one model (fresh process)."""
    import torch
    torch.set_num_threads(threads)
    model, codec_cfg = _build(variant, device)
    step = _stepper(model, *_batch(codec_cfg, batch_size, device))
    rss0 = _rss_bytes()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    for _ in range(3):
        step()
    if device.startswith('cuda'):
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - rss0


def _run_mem_worker(variant: str, args) -> int:
    cmd = [
        sys.executable, __file__, '--mem-worker', variant, '--device',
        args.device, '--batch-size', str(args.batch_size), '--threads',
        str(args.threads)
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True,
                         cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])['peak']


def bench_cost(args) -> None:
    mem = {v: _run_mem_worker(v, args) / 2**20 for v in VARIANTS}
    times = bench_time(args)
    t = {v: statistics.median(times[v]) * 1e3 for v in VARIANTS}
    ratio = statistics.median(
        s / p for p, s in zip(times['plain'], times['swahr']))
    mem_kind = ('max_memory_allocated' if args.device.startswith('cuda')
                else 'peak RSS growth')
    print(f'\nResNet-50 256x192, batch {args.batch_size}, device '
          f'{args.device}, {args.threads} threads, {args.steps} alternating '
          'steps per model (median)\n')
    print(f'| model | step time (ms) | peak memory, {mem_kind} (MiB) |')
    print('|---|---|---|')
    print(f"| HeatmapHead + KeypointMSELoss (mmpose) | {t['plain']:.1f} | "
          f"{mem['plain']:.0f} |")
    print(f"| SWAHRHead + SWAHRLoss | {t['swahr']:.1f} | {mem['swahr']:.0f} |")
    print(f"| ratio SWAHR / mmpose | {ratio:.3f}x (median of pairs) | "
          f"{mem['swahr'] / mem['plain']:.3f}x |")


def bench_ap(args) -> None:
    from mmengine.config import Config
    from mmengine.runner import Runner
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules()

    rows = []
    for iters in args.ap_iters:
        for name in (PLAIN_TINY, SWAHR_TINY):
            cfg = Config.fromfile(osp.join(ROOT, 'configs', name))
            cfg.train_cfg = dict(by_epoch=True, max_epochs=iters)
            cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
            cfg.default_hooks.checkpoint = dict(
                type='CheckpointHook', interval=100000, save_last=False)
            cfg.default_hooks.logger = dict(type='LoggerHook', interval=50)
            # mmpose's runtime names every visualizer 'visualizer': a second
            # runner would reuse the first one and its (deleted) work dir
            cfg.visualizer.name = f'bench_swahr_{iters}_{name}'
            with tempfile.TemporaryDirectory() as work_dir:
                cfg.work_dir = work_dir
                runner = Runner.from_cfg(cfg)
                t0 = time.perf_counter()
                runner.train()
                train_s = time.perf_counter() - t0
                metrics = runner.test()
            rows.append((iters, name, metrics['coco/AP'], metrics['coco/AR'],
                         train_s))
    print('\nTiny configs on data/coco_tiny (train images = test images), '
          'CPU\n')
    print('| iterations | config | AP | AR | train time (s) |')
    print('|---|---|---|---|---|')
    for iters, name, ap, ar, s in rows:
        print(f'| {iters} | {name} | {ap:.3f} | {ar:.3f} | {s:.0f} |')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--steps', type=int, default=10)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--ap', action='store_true',
                        help='also train both tiny configs and compare AP')
    parser.add_argument('--ap-iters', type=int, nargs='+', default=[40, 300])
    parser.add_argument('--skip-cost', action='store_true',
                        help='only the AP part')
    parser.add_argument('--mem-worker', choices=VARIANTS,
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mem_worker:
        print(json.dumps(dict(peak=worker_mem(
            args.mem_worker, args.device, args.batch_size, args.threads))))
        return
    if not args.skip_cost:
        bench_cost(args)
    if args.ap:
        bench_ap(args)


if __name__ == '__main__':
    main()
