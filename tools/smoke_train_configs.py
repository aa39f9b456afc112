"""Train the paper configs a few iterations on the shipped data and report.

Each config is trained as written (model, optimiser wrapper, schedule hooks,
EMA, augmentation pipeline, input size) with only the data, the batch and
the length changed: the training set becomes ``data/coco_mini`` (40 real
COCO train2017 images, 4 of them without persons), ``--iters`` iterations of
``--batch`` images, no validation and no checkpoints. Every loss of every
iteration must be finite; the script prints, per config, the first and last
total loss, seconds per iteration and images/s (from the second iteration
on, so model building and the first step's allocations do not count), and
the peak memory on a GPU: CUDA's ``max_memory_allocated`` (and reserved).
On CPU no memory figure is printed (the process' peak resident set covers
every config run before; ``benchmarks/bench_train_memory.py`` estimates
the per-GPU memory instead).

Usage::

    python tools/smoke_train_configs.py                 # all paper configs
    python tools/smoke_train_configs.py configs/yolopose_s6_4xb16-300e_coco-640.py \\
        --iters 10 --batch 2
    # on a GPU, at each config's own batch per GPU (AMP as configured):
    python tools/smoke_train_configs.py --iters 50 --batch 0

Exit status 1 if any loss was not finite or a run failed.
"""
import argparse
import glob
import math
import os.path as osp
import sys
import tempfile
import time
import traceback

import _checkout  # noqa: F401  (this checkout's posekit_plugins first)
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA_ROOT = osp.join(ROOT, 'data', 'coco_mini') + '/'
# the COCO ones: the smoke run trains on data/coco_mini (17 keypoints)
PAPER_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'yolopose_*6_*_coco-*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'kapao_*6_*_coco-*.py')))


class _Stop(Exception):
    """Raised by :class:`_Record` to end the run after ``iters``."""


class _Record(Hook):
    """Collects the log variables of every training iteration, times them
    and ends the run after ``iters`` iterations (the loop stays the config's
    epoch-based one, so its epoch-driven hooks behave as in real training).
    """

    priority = 'VERY_LOW'

    def __init__(self, iters: int):
        self.iters = iters
        self.losses, self.stamps = [], []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        self.stamps.append(time.perf_counter())
        self.losses.append({
            k: float(v.detach()) if torch.is_tensor(v) else float(v)
            for k, v in (outputs or {}).items()
        })
        if len(self.losses) >= self.iters:
            raise _Stop


def smoke_config(path: str, iters: int, batch: int, work_dir: str) -> dict:
    """Train ``path`` for ``iters`` iterations of ``batch`` images (0: the
    config's own batch) on data/coco_mini; return the measurements."""
    cfg = Config.fromfile(path)
    batch = batch or cfg.train_dataloader.batch_size
    ds = cfg.train_dataloader.dataset
    while 'dataset' in ds and 'ann_file' not in ds:  # dataset wrappers
        ds = ds.dataset
    ds.data_root = DATA_ROOT
    ds.ann_file = 'annotations/person_keypoints_train2017.json'
    ds.data_prefix = dict(img='train2017/')
    n_img = iters * batch
    # the 40 shipped images (fewer after filtering), repeated to outlast the run
    cfg.train_dataloader.dataset = dict(
        type='RepeatDataset', times=math.ceil(n_img / 20) + 1,
        dataset=cfg.train_dataloader.dataset)
    cfg.train_dataloader.update(
        batch_size=batch, num_workers=0, persistent_workers=False,
        sampler=dict(type='DefaultSampler', shuffle=False), drop_last=True)
    cfg.train_dataloader.pop('pin_memory', None)
    cfg.train_cfg = dict(by_epoch=True, max_epochs=1, val_interval=2)
    cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.test_cfg = cfg.test_dataloader = cfg.test_evaluator = None
    cfg.default_hooks.checkpoint = None
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1)
    cfg.default_hooks.pop('visualization', None)
    cfg.load_from, cfg.resume = None, False
    cfg.work_dir = work_dir
    cfg.log_level = 'WARNING'
    cfg.visualizer = dict(type='PoseLocalVisualizer', vis_backends=[],
                          name=f'smoke_{osp.basename(path)}')
    init_default_scope('mmpose')
    runner = Runner.from_cfg(cfg)
    record = _Record(iters)
    runner.register_hook(record)
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    try:
        runner.train()
    except _Stop:
        pass
    stamps = record.stamps
    per_it = ((stamps[-1] - stamps[0]) / (len(stamps) - 1)
              if len(stamps) > 1 else stamps[0] - t0)
    out = dict(
        config=osp.basename(path),
        batch=batch,
        iters=len(record.losses),
        first=record.losses[0].get('loss', float('nan')),
        last=record.losses[-1].get('loss', float('nan')),
        finite=all(
            math.isfinite(v) for d in record.losses for v in d.values()),
        s_per_it=per_it,
        img_s=batch / per_it,
        wrapper=type(runner.optim_wrapper).__name__,
    )
    if torch.cuda.is_available():
        out['peak_gib'] = torch.cuda.max_memory_allocated() / 2**30
        out['reserved_gib'] = torch.cuda.max_memory_reserved() / 2**30
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=PAPER_CONFIGS)
    parser.add_argument('--iters', type=int, default=10)
    parser.add_argument('--batch', type=int, default=2,
                        help="images per iteration; 0: the config's own")
    args = parser.parse_args(argv)
    rows, ok = [], True
    for path in args.configs:
        with tempfile.TemporaryDirectory() as tmp:
            try:
                row = smoke_config(path, args.iters, args.batch, tmp)
            except Exception:  # report every config, fail at the end
                traceback.print_exc()
                row = dict(config=osp.basename(path), error=True)
        ok &= bool(row.get('finite', False))
        rows.append(row)
        print(row, flush=True)
    dev = (torch.cuda.get_device_name() if torch.cuda.is_available() else
           f'CPU, {torch.get_num_threads()} threads')
    mem = 'peak GiB (alloc / reserved)'
    print(f'\n{dev}; torch {torch.__version__}\n')
    print(f'| config | batch | iters | optim wrapper | loss first -> last '
          f'| finite | s/it | img/s | {mem} |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        if r.get('error'):
            print(f'| {r["config"]} | failed (traceback above) |')
            continue
        peak = (f'{r["peak_gib"]:.2f} / {r["reserved_gib"]:.2f}'
                if 'peak_gib' in r else '-')
        print(f'| {r["config"]} | {r["batch"]} | {r["iters"]} | '
              f'{r["wrapper"]} | {r["first"]:.3f} -> {r["last"]:.3f} | '
              f'{r["finite"]} | {r["s_per_it"]:.2f} | {r["img_s"]:.2f} | '
              f'{peak} |')
    return 0 if ok else 1


if __name__ == '__main__':
    sys.exit(main())
