"""Train a config a few iterations with mmengine's Runner and evaluate it:
shared by the CrowdPose tests (and usable from a shell to time them)."""
import math
import time
from typing import Dict, List, Optional

from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner


class LossRecorder(Hook):
    """Keeps the total loss of every training iteration."""

    priority = 'LOWEST'

    def __init__(self) -> None:
        self.losses: List[float] = []

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None) -> None:
        self.losses.append(float(outputs['loss'].detach()))


def train_and_score(config: str, work_dir: str, iters: int,
                    cfg_options: Optional[dict] = None) -> Dict:
    """Train ``config`` for ``iters`` iterations (one per epoch on the tiny
    data), validate once at the end, and return the losses, the metrics and
    the wall time. Everything else is the config's own."""
    cfg = Config.fromfile(config)
    cfg.work_dir = work_dir
    cfg.train_cfg = dict(by_epoch=True, max_epochs=iters, val_interval=iters)
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', interval=-1, save_last=False, save_best=None)
    cfg.default_hooks.logger = dict(type='LoggerHook', interval=1000)
    cfg.visualizer = dict(type='PoseLocalVisualizer', vis_backends=[])
    cfg.log_level = 'WARNING'
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    runner = Runner.from_cfg(cfg)
    recorder = LossRecorder()
    runner.register_hook(recorder)
    start = time.perf_counter()
    runner.train()
    metrics = runner.message_hub.log_scalars
    scores = {k[len('val/'):]: float(v.current())
              for k, v in metrics.items() if k.startswith('val/')}
    return dict(losses=recorder.losses, metrics=scores,
                seconds=time.perf_counter() - start,
                iters_per_epoch=len(runner.train_dataloader))


if __name__ == '__main__':
    import argparse
    import sys
    import tempfile
    from pathlib import Path
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    import posekit_plugins  # noqa: F401
    parser = argparse.ArgumentParser()
    parser.add_argument('configs', nargs='+')
    parser.add_argument('--iters', type=int, default=10)
    args = parser.parse_args()
    for c in args.configs:
        with tempfile.TemporaryDirectory() as wd:
            r = train_and_score(c, wd, args.iters)
        ls = r['losses']
        print(f'{Path(c).name}: {r["seconds"]:.1f}s, loss {ls[0]:.4g} -> '
              f'{ls[-1]:.4g} (finite {all(map(math.isfinite, ls))}), '
              f'{ {k: round(v, 3) for k, v in r["metrics"].items()} }',
              flush=True)
