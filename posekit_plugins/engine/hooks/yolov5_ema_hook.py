"""YOLOv5's ModelEMA for mmengine's EMAHook.

YOLOv5's ``ModelEMA`` (YOLO-Pose's and KAPAO's ``utils/torch_utils.py``,
identical): the EMA starts as a copy of the model at the start of training;
after every optimizer step ``updates += 1``, ``d = 0.9999 * (1 -
exp(-updates / 2000))`` and every floating-point ``state_dict`` entry
(parameters and buffers such as BN running statistics) becomes ``d * ema +
(1 - d) * model``; integer entries (``num_batches_tracked``) keep the values
of the copy.

mmpose's ``ExpMomentumEMA`` (with ``momentum=0.0001, gamma=2000,
update_buffers=True``) uses the same decay for its update number ``k >= 2``
(``1 - m = 0.9999 * (1 - exp(-k / 2000))``), but differs in that

* its first update copies the model (decay 0; ModelEMA's is
  ``d(1) ~ 5e-4``, i.e. still keeps 5e-4 of the starting weights),
* that copy also overwrites the integer buffers,
* mmengine's ``EMAHook`` creates the copy in ``before_run``, before the
  weights are initialised / loaded, and updates it after every iteration,
  also the ones where gradient accumulation skipped the optimizer step.

:class:`YOLOv5ModelEMA` is ModelEMA's arithmetic and :class:`YOLOv5EMAHook`
an ``EMAHook`` that copies the model just before training (unless resuming)
and updates only after optimizer steps.
"""
import math
from typing import Optional

import torch
import torch.nn as nn
from mmengine.hooks import EMAHook
from mmengine.model import BaseAveragedModel
from mmpose.registry import HOOKS, MODELS


@MODELS.register_module()
class YOLOv5ModelEMA(BaseAveragedModel):
    """YOLOv5's ``ModelEMA`` as an mmengine averaged model.

    The ``steps`` buffer is ModelEMA's ``updates`` (saved in the EMA state).

    Args:
        model (nn.Module): The model to average.
        decay (float): Final decay. Defaults to 0.9999.
        tau (float): Ramp of the decay, in updates. Defaults to 2000.
        interval (int): Unused (ModelEMA updates at every call); kept for
            ``BaseAveragedModel``'s signature. Defaults to 1.
        device (torch.device, optional): Where to keep the EMA.
        update_buffers (bool): Average the floating-point buffers too (as
            ModelEMA). Defaults to True.
    """

    def __init__(self,
                 model: nn.Module,
                 decay: float = 0.9999,
                 tau: float = 2000,
                 interval: int = 1,
                 device: Optional[torch.device] = None,
                 update_buffers: bool = True) -> None:
        super().__init__(model, interval, device, update_buffers)
        self.decay = decay
        self.tau = tau

    def decay_at(self, updates: int) -> float:
        """``decay * (1 - exp(-updates / tau))``."""
        return self.decay * (1 - math.exp(-updates / self.tau))

    def avg_func(self, averaged_param: torch.Tensor,
                 source_param: torch.Tensor, steps: int) -> None:
        d = self.decay_at(steps)
        averaged_param *= d
        averaged_param += (1. - d) * source_param

    @torch.no_grad()
    def update_parameters(self, model: nn.Module) -> None:
        self.steps += 1
        updates = int(self.steps.item())
        src = (model.state_dict() if self.update_buffers else
               dict(model.named_parameters()))
        for k, v in self.avg_parameters.items():
            if v.dtype.is_floating_point:
                self.avg_func(v.data, src[k].detach().to(v.device), updates)
        if not self.update_buffers:
            for b_avg, b_src in zip(self.module.buffers(), model.buffers()):
                b_avg.data.copy_(b_src.data.to(b_avg.device))

    @torch.no_grad()
    def copy_from(self, model: nn.Module) -> None:
        """Restart the EMA as a copy of ``model`` (ModelEMA's deepcopy)."""
        src = model.state_dict()
        for k, v in self.module.state_dict().items():
            v.copy_(src[k].to(v.device))
        self.steps.zero_()


@HOOKS.register_module()
class YOLOv5EMAHook(EMAHook):
    """``EMAHook`` updating as YOLOv5's training loop updates ModelEMA.

    * Before training (after the weights are initialised or loaded), a run
      that is not resumed restarts the EMA as a copy of the model.
    * The EMA is updated after the iterations in which the optimizer
      stepped (``optim_wrapper.stepped`` of
      :class:`~posekit_plugins.engine.optim_wrappers.YOLOv5OptimWrapper`;
      with another wrapper, after every iteration).

    Args:
        ema_type (str): Defaults to ``'YOLOv5ModelEMA'``.
        **kwargs: ``EMAHook``'s and the EMA's (``decay``, ``tau``).
    """

    def __init__(self, ema_type: str = 'YOLOv5ModelEMA', **kwargs):
        super().__init__(ema_type=ema_type, **kwargs)

    def before_train(self, runner) -> None:
        super().before_train(runner)
        if not runner._resume or int(self.ema_model.steps) == 0:
            if hasattr(self.ema_model, 'copy_from'):
                self.ema_model.copy_from(self.src_model)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs=None) -> None:
        if getattr(runner.optim_wrapper, 'stepped', True):
            super().after_train_iter(runner, batch_idx, data_batch, outputs)
