"""Train a pose model from a config (mmpose's ``tools/train.py`` interface).

Adds to mmpose's script: ``import posekit_plugins`` (registers this package
and makes mmengine's checkpoints loadable under torch >= 2.6) and
distributed training on CPU with the gloo backend.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]]
    torchrun --nproc_per_node 2 tools/train.py CONFIG --launcher pytorch
"""
import argparse
import os
import os.path as osp

import _checkout  # noqa: F401  (this checkout's package first)
from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import posekit_plugins  # noqa: F401  (registers modules, checkpoint loading)
from posekit_plugins.utils import setup_cpu_distributed, shutdown_distributed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a pose model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from this checkpoint, or, with no value, from the latest '
        'checkpoint in the work directory')
    parser.add_argument(
        '--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument(
        '--no-validate', action='store_true',
        help='do not evaluate during training')
    parser.add_argument(
        '--auto-scale-lr', action='store_true',
        help='scale the lr by the actual / the config\'s base batch size')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override config entries, e.g. train_cfg.max_epochs=10')
    parser.add_argument(
        '--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args: argparse.Namespace) -> Config:
    """Fold the command line into the config, as mmpose's script does."""
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        if cfg.optim_wrapper.get('type') == 'YOLOv5OptimWrapper':
            # keep YOLOv5's accumulation; force AMP instead of 'auto'
            cfg.optim_wrapper.amp = True
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr.enable = True
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    return cfg


def main() -> None:
    args = parse_args()
    cfg = merge_args(Config.fromfile(args.config), args)
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    shutdown_distributed()


if __name__ == '__main__':
    main()
