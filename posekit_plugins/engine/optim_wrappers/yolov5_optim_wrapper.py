"""YOLOv5's optimiser step: AMP on CUDA, fp32 elsewhere, its accumulation.

YOLOv5's ``train.py`` (YOLO-Pose's and KAPAO's) runs the forward pass under
``amp.autocast(enabled=cuda)`` and steps through
``amp.GradScaler(enabled=cuda)``: mixed precision on a GPU, plain fp32 on a
CPU, from the same script. mmengine's ``AmpOptimWrapper`` refuses to build
without a GPU, so :class:`YOLOv5OptimWrapper` is an ``AmpOptimWrapper`` that
falls back to the plain ``OptimWrapper`` behaviour when AMP is not
available (``amp='auto'``, the default), and says which one it is.

It also reproduces the original's gradient accumulation, which differs from
mmengine's ``accumulative_counts``:

* the optimizer steps at the iterations ``ni`` (0-based, since the start of
  training) with ``ni % accumulate == 0`` (YOLO-Pose, ``rule='modulo'``) or
  ``ni - last_opt_step >= accumulate`` (KAPAO, ``rule='since_last_step'``);
  ``accumulate`` ramps from 1 during the warm-up (set by
  :class:`~posekit_plugins.engine.hooks.YOLOv5ScheduleHook`);
* the accumulated losses are summed, not averaged (YOLOv5's loss is already
  multiplied by the batch size, so the sum is the nominal-batch loss);
* in DDP the loss is multiplied by the world size (``loss *= world_size``:
  DDP averages the gradients, the original wants their sum).

With ``accumulate == 1`` and one process all of this is the plain step.
"""
import logging
from contextlib import contextmanager
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.device import (
    is_cuda_available,
    is_mlu_available,
    is_musa_available,
    is_npu_available,
)
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmpose.registry import OPTIM_WRAPPERS

ACCUMULATE_RULES = ('modulo', 'since_last_step')


def amp_available() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can be built here."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


@OPTIM_WRAPPERS.register_module()
class YOLOv5OptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` on a GPU, ``OptimWrapper`` otherwise, with YOLOv5's
    gradient accumulation.

    Args:
        amp (bool | str): ``'auto'`` (AMP when a GPU is available, as the
            original's ``enabled=cuda``), True (AMP, fails without a GPU) or
            False (fp32). Defaults to ``'auto'``.
        accumulate_rule (str): ``'modulo'`` (YOLO-Pose's ``ni % accumulate ==
            0``) or ``'since_last_step'`` (KAPAO's ``ni - last_opt_step >=
            accumulate``). Defaults to ``'modulo'``.
        loss_scale_by_world_size (bool): Multiply the loss by the world size
            before the backward pass (the original's ``loss *= world_size``
            in DDP). Defaults to True.
        loss_scale, dtype, use_fsdp: ``AmpOptimWrapper``'s (used with AMP).
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``accumulative_counts``
            = the initial ``accumulate``, ``clip_grad``).
    """

    def __init__(self,
                 amp: Union[bool, str] = 'auto',
                 accumulate_rule: str = 'modulo',
                 loss_scale_by_world_size: bool = True,
                 loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Union[str, torch.dtype, None] = None,
                 use_fsdp: bool = False,
                 **kwargs):
        if amp == 'auto':
            amp = amp_available()
        elif not isinstance(amp, bool):
            raise ValueError(f"amp must be 'auto', True or False, got {amp!r}")
        assert accumulate_rule in ACCUMULATE_RULES, (
            f'accumulate_rule must be one of {ACCUMULATE_RULES}, got '
            f'{accumulate_rule!r}')
        self.amp_enabled = amp
        if amp:
            super().__init__(
                loss_scale=loss_scale, dtype=dtype, use_fsdp=use_fsdp,
                **kwargs)
        else:
            OptimWrapper.__init__(self, **kwargs)
            self.loss_scaler = None
            self._scale_update_param = None
            self.cast_dtype = None
        print_log(
            f'YOLOv5OptimWrapper: '
            f"{'mixed precision (AMP, GradScaler)' if amp else 'fp32 (no AMP)'}"
            f', accumulate {self._accumulative_counts} ({accumulate_rule})',
            logger='current')
        self.accumulate_rule = accumulate_rule
        self.loss_scale_by_world_size = loss_scale_by_world_size
        # YOLOv5's running `accumulate` (the schedule hook ramps it)
        self.accumulate = self._accumulative_counts
        # KAPAO's last_opt_step (not saved: the original restarts it at -1)
        self.last_opt_step = -1
        # optimizer.step() calls so far and whether this iteration made one
        # (the EMA is updated after each step, as ModelEMA)
        self.num_steps = 0
        self.stepped = False

    # ------------------------------------------------------------ accumulation
    def _steps_at(self, ni: int) -> bool:
        if self.accumulate_rule == 'modulo':
            return ni % self.accumulate == 0
        return ni - self.last_opt_step >= self.accumulate

    def should_update(self) -> bool:
        """Whether the iteration just back-propagated steps the optimizer
        (called after :meth:`backward`, which counted it)."""
        return self._steps_at(self._inner_count - 1)

    def should_sync(self) -> bool:
        """Whether DDP syncs the gradients of the coming backward (called
        before it)."""
        return self._steps_at(self._inner_count)

    def scale_loss(self, loss: torch.Tensor) -> torch.Tensor:
        """The original sums the accumulated losses (no division by
        ``accumulate``) and multiplies by the world size in DDP."""
        if self.loss_scale_by_world_size:
            world_size = get_world_size()
            if world_size > 1:
                loss = loss * world_size
        return loss

    def update_params(self,
                      loss: torch.Tensor,
                      step_kwargs: Optional[dict] = None,
                      zero_kwargs: Optional[dict] = None) -> None:
        self.stepped = False
        loss = self.scale_loss(loss)
        self.backward(loss)
        if self.should_update():
            self.step(**(step_kwargs or {}))
            self.zero_grad(**(zero_kwargs or {}))

    # ------------------------------------------------------------ amp or fp32
    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        if self.amp_enabled:
            super().backward(loss, **kwargs)
        else:
            OptimWrapper.backward(self, loss, **kwargs)

    def step(self, **kwargs) -> None:
        if self.amp_enabled:
            super().step(**kwargs)
        else:
            OptimWrapper.step(self, **kwargs)
        self.last_opt_step = self._inner_count - 1
        self.num_steps += 1
        self.stepped = True

    def state_dict(self) -> dict:
        if self.amp_enabled:
            return super().state_dict()
        return OptimWrapper.state_dict(self)

    def load_state_dict(self, state_dict: dict) -> None:
        """Loads a checkpoint of either mode: a fp32 run ignores the AMP
        loss scaler, an AMP run without one starts a fresh scaler."""
        state_dict = dict(state_dict)
        scaler_state = state_dict.pop('loss_scaler', None)
        if self.amp_enabled and scaler_state is not None:
            self.loss_scaler.load_state_dict(scaler_state)
        elif self.amp_enabled or scaler_state:
            print_log(
                'YOLOv5OptimWrapper: ' +
                ('the checkpoint has no AMP loss scaler, starting a fresh '
                 'one' if self.amp_enabled else
                 "ignoring the checkpoint's AMP loss scaler (fp32 run)"),
                logger='current', level=logging.WARNING)
        OptimWrapper.load_state_dict(self, state_dict)

    @contextmanager
    def optim_context(self, model: nn.Module):
        if self.amp_enabled:
            with super().optim_context(model):
                yield
        else:
            with OptimWrapper.optim_context(self, model):
                yield
