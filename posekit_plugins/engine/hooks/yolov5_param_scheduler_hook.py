"""YOLOv5's learning-rate / momentum schedule as a hook.

YOLOv5's ``train.py`` (YOLO-Pose's and KAPAO's):

* per epoch, ``LambdaLR`` with ``lf = one_cycle(1, lrf, epochs)`` (cosine
  from 1 to ``lrf``; ``--linear-lr``: ``(1 - e / (epochs - 1)) * (1 - lrf) +
  lrf``): every group's lr is ``initial_lr * lf(epoch)`` during ``epoch``;
* for the first ``nw = max(round(warmup_epochs * nb), 1000)`` iterations
  (``nb`` iterations per epoch), at every iteration ``ni <= nw``: group
  ``j``'s lr is ``np.interp(ni, [0, nw], [warmup_bias_lr if j == 2 else 0,
  initial_lr * lf(epoch)])``, its momentum ``np.interp(ni, [0, nw],
  [warmup_momentum, momentum])`` and ``accumulate = max(1, np.interp(ni, [0,
  nw], [1, nbs / total_batch_size]).round())``.

This hook sets the same values before each epoch and iteration; everything
is computed from ``runner.epoch`` / ``runner.iter`` and the groups'
``initial_lr`` (saved with the optimizer), so a resumed run continues the
schedule. It runs before mmengine's ``RuntimeInfoHook`` so the logged lr is
the one used in the iteration. Use it with ``param_scheduler = []``.
"""
import logging
import math
from typing import Callable, Optional

import numpy as np
from mmengine.dist import get_world_size
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmpose.registry import HOOKS

from ..optim_wrappers.yolov5_optim_wrapper_constructor import (
    yolov5_accumulate,
    yolov5_weight_decay,
)


def one_cycle_lambda(lrf: float, epochs: int) -> Callable[[float], float]:
    """YOLOv5's ``one_cycle(1, lrf, epochs)``."""
    return lambda x: ((1 - math.cos(x * math.pi / epochs)) / 2) * (lrf - 1) + 1


def linear_lambda(lrf: float, epochs: int) -> Callable[[float], float]:
    """YOLOv5's ``--linear-lr`` lambda."""
    return lambda x: (1 - x / (epochs - 1)) * (1.0 - lrf) + lrf


@HOOKS.register_module()
class YOLOv5ScheduleHook(Hook):
    """YOLOv5's one-cycle (or linear) lr per epoch with its warm-up by
    iteration (bias lr falling, others rising, momentum rising,
    accumulation ramping).

    Args:
        lrf (float): Final lr factor (hyp ``lrf``). Defaults to 0.2.
        schedule (str): ``'cosine'`` (``one_cycle``, the default) or
            ``'linear'`` (``--linear-lr``).
        max_epochs (int, optional): ``epochs`` of the lambda; None: the
            runner's ``max_epochs``.
        warmup_epochs (float): hyp ``warmup_epochs``. Defaults to 3.
        min_warmup_iters (int): The warm-up lasts at least this many
            iterations (the original's 1000).
        warmup_bias_lr (float): hyp ``warmup_bias_lr``. Defaults to 0.1.
        warmup_momentum (float): hyp ``warmup_momentum``. Defaults to 0.8.
        momentum (float, optional): hyp ``momentum``, the end of the momentum
            warm-up; None: the optimizer's momentum.
        bias_group (int): Index of the bias group. Defaults to 2.
        check_batch_size (bool): Before training, compare the total batch
            the optimizer was built for with the train dataloader's and,
            if they differ, recompute YOLOv5's accumulation and weight decay
            for the real one. Defaults to True.
    """

    priority = 'HIGHEST'  # before RuntimeInfoHook logs the lr

    def __init__(self,
                 lrf: float = 0.2,
                 schedule: str = 'cosine',
                 max_epochs: Optional[int] = None,
                 warmup_epochs: float = 3.0,
                 min_warmup_iters: int = 1000,
                 warmup_bias_lr: float = 0.1,
                 warmup_momentum: float = 0.8,
                 momentum: Optional[float] = None,
                 bias_group: int = 2,
                 check_batch_size: bool = True):
        assert schedule in ('cosine', 'linear'), schedule
        self.lrf = lrf
        self.schedule = schedule
        self.max_epochs = max_epochs
        self.warmup_epochs = warmup_epochs
        self.min_warmup_iters = min_warmup_iters
        self.warmup_bias_lr = warmup_bias_lr
        self.warmup_momentum = warmup_momentum
        self.momentum = momentum
        self.bias_group = bias_group
        self.check_batch_size = check_batch_size
        self.lf: Optional[Callable[[float], float]] = None
        self.warmup_iters: Optional[int] = None

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _groups(runner):
        # the optimizer's own groups (OptimWrapper.param_groups may append
        # mmengine's `base_param_settings` pseudo group)
        return runner.optim_wrapper.optimizer.param_groups

    def _setup(self, runner) -> None:
        epochs = self.max_epochs or runner.max_epochs
        make = one_cycle_lambda if self.schedule == 'cosine' else linear_lambda
        self.lf = make(self.lrf, epochs)
        iters_per_epoch = len(runner.train_dataloader)
        self.warmup_iters = max(
            round(self.warmup_epochs * iters_per_epoch), self.min_warmup_iters)
        optim_wrapper = runner.optim_wrapper
        if self.momentum is None:
            self.momentum = optim_wrapper.optimizer.defaults.get('momentum')
            if self.momentum is None and 'betas' in optim_wrapper.optimizer.defaults:
                self.momentum = optim_wrapper.optimizer.defaults['betas'][0]
        for group in self._groups(runner):
            group.setdefault('initial_lr', group['lr'])
        settings = getattr(optim_wrapper, 'yolov5_settings', None)
        if self.check_batch_size and settings is not None:
            self._check_batch_size(runner, settings)
        print_log(
            f'YOLOv5ScheduleHook: {self.schedule} lr to {self.lrf} x over '
            f'{epochs} epochs, warm-up {self.warmup_iters} iterations',
            logger='current')

    def _check_batch_size(self, runner, settings: dict) -> None:
        total = runner.train_dataloader.batch_size * get_world_size()
        if total == settings['total_batch_size']:
            return
        nbs = settings['nominal_batch_size']
        accumulate = yolov5_accumulate(total, nbs)
        weight_decay = yolov5_weight_decay(settings['base_weight_decay'],
                                           total, nbs)
        print_log(
            f'YOLOv5ScheduleHook: the optimizer was built for a total batch '
            f"of {settings['total_batch_size']}, the dataloader gives "
            f'{total}: weight decay set to {weight_decay:g}, accumulate to '
            f'{accumulate}', logger='current', level=logging.WARNING)
        optim_wrapper = runner.optim_wrapper
        self._groups(runner)[settings['decay_group']]['weight_decay'] = \
            weight_decay
        optim_wrapper._accumulative_counts = accumulate
        if hasattr(optim_wrapper, 'accumulate'):
            optim_wrapper.accumulate = accumulate
        settings['total_batch_size'] = total

    def _set_epoch_lr(self, runner) -> None:
        factor = self.lf(runner.epoch)
        for group in self._groups(runner):
            group['lr'] = group['initial_lr'] * factor

    # ------------------------------------------------------------------ hooks
    def before_train(self, runner) -> None:
        self._setup(runner)
        # the lr in force at the start (also when resuming in mid-epoch)
        self._set_epoch_lr(runner)

    def before_train_epoch(self, runner) -> None:
        # LambdaLR: lr = initial_lr * lf(epoch) for the whole epoch
        self._set_epoch_lr(runner)

    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        ni = runner.iter
        nw = self.warmup_iters
        if ni > nw:
            return
        xi = [0, nw]
        optim_wrapper = runner.optim_wrapper
        settings = getattr(optim_wrapper, 'yolov5_settings', None)
        if settings is not None and hasattr(optim_wrapper, 'accumulate'):
            optim_wrapper.accumulate = int(max(1, np.interp(
                ni, xi, [1, settings['nominal_batch_size'] /
                         settings['total_batch_size']]).round()))
        target = self.lf(runner.epoch)
        for j, group in enumerate(self._groups(runner)):
            start = self.warmup_bias_lr if j == self.bias_group else 0.0
            # float(): the same value, saved without numpy types
            group['lr'] = float(
                np.interp(ni, xi, [start, group['initial_lr'] * target]))
            if 'momentum' in group:
                group['momentum'] = float(np.interp(
                    ni, xi, [self.warmup_momentum, self.momentum]))
