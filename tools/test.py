"""Evaluate a checkpoint on a config's test set (mmpose's ``tools/test.py``).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
"""
import argparse
import os
import os.path as osp

import _checkout  # noqa: F401  (this checkout's package first)
from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.fileio import dump
from mmengine.runner import Runner

import posekit_plugins  # noqa: F401  (registers modules, checkpoint loading)
from posekit_plugins.utils import setup_cpu_distributed, shutdown_distributed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a pose model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument(
        '--out', help='also dump the metrics to this file (.json/.yaml/.pkl)')
    parser.add_argument(
        '--show-dir', help='draw predictions of every test image here')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. test_dataloader.batch_size=1')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    cfg.launcher = args.launcher
    cfg.load_from = args.checkpoint
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.show_dir:
        vis = cfg.default_hooks.visualization
        vis.enable, vis.out_dir = True, args.show_dir
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main() -> None:
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out:
        if is_main_process():
            dump({k: float(v) for k, v in metrics.items()}, args.out)
            print(f'metrics written to {args.out}')
    shutdown_distributed()


if __name__ == '__main__':
    main()
