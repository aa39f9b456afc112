"""YOLOv5's optimizer: three parameter groups, batch-scaled weight decay.

YOLOv5's ``train.py`` (YOLO-Pose's and KAPAO's, identical here):

* nominal batch ``nbs = 64``; ``accumulate = max(round(nbs / total), 1)``
  batches are accumulated per step (``total`` = images per step over all
  GPUs) and the weight decay is scaled by ``total * accumulate / nbs``;
* three groups, walking the modules in order: every module's ``bias`` that
  is a parameter -> group 2 (no decay); a ``BatchNorm2d``'s ``weight`` ->
  group 0 (no decay); any other module's ``weight`` that is a parameter ->
  group 1 (the scaled decay). Parameters named otherwise are not optimised;
* SGD with Nesterov momentum (or, with ``--adam``, Adam with ``betas =
  (momentum, 0.999)``), lr ``lr0`` for every group.
"""
import logging
from typing import List, Optional

import torch.nn as nn
from mmengine.dist import get_world_size
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmpose.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

#: norm layers whose weight goes to the no-decay group (the original's test
#: is ``isinstance(v, nn.BatchNorm2d)``; SyncBatchNorm is what DDP's
#: ``sync_bn`` turns it into, which the original does after this step)
NO_DECAY_NORMS = (nn.BatchNorm2d, nn.SyncBatchNorm)


def yolov5_accumulate(total_batch_size: int, nominal_batch_size: int = 64) -> int:
    """``max(round(nbs / total_batch_size), 1)`` (Python's round)."""
    return max(round(nominal_batch_size / total_batch_size), 1)


def yolov5_weight_decay(weight_decay: float, total_batch_size: int,
                        nominal_batch_size: int = 64) -> float:
    """``weight_decay * total * accumulate / nbs``."""
    accumulate = yolov5_accumulate(total_batch_size, nominal_batch_size)
    return weight_decay * total_batch_size * accumulate / nominal_batch_size


def yolov5_param_groups(model: nn.Module) -> List[List[nn.Parameter]]:
    """``[pg0, pg1, pg2]``: BN weights, other weights, biases (the
    original's membership and order)."""
    pg0, pg1, pg2 = [], [], []
    seen = set()

    def add(group, p):
        if id(p) not in seen:  # a tied parameter goes to its first group
            seen.add(id(p))
            group.append(p)

    for _, v in model.named_modules():
        if hasattr(v, 'bias') and isinstance(v.bias, nn.Parameter):
            add(pg2, v.bias)
        if isinstance(v, NO_DECAY_NORMS):
            add(pg0, v.weight)
        elif hasattr(v, 'weight') and isinstance(v.weight, nn.Parameter):
            add(pg1, v.weight)
    return [pg0, pg1, pg2]


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class YOLOv5OptimWrapperConstructor:
    """Builds YOLOv5's optimizer and its wrapper.

    Config::

        optim_wrapper = dict(
            type='YOLOv5OptimWrapper',
            constructor='YOLOv5OptimWrapperConstructor',
            optimizer=dict(type='SGD', lr=0.01, momentum=0.937,
                           weight_decay=5e-4, nesterov=True),
            paramwise_cfg=dict(batch_size_per_gpu=16))

    ``optimizer.weight_decay`` is the hyp file's (before the scaling); only
    group 1 gets it (scaled). The wrapper gets ``accumulative_counts =
    accumulate`` unless the config sets it.

    Args:
        optim_wrapper_cfg (dict): The optim wrapper config.
        paramwise_cfg (dict, optional):

            - ``batch_size_per_gpu`` (int): images per GPU per iteration
              (the train dataloader's ``batch_size``). None: no scaling
              (``total = nbs``); :class:`YOLOv5ScheduleHook` checks it
              against the real dataloader before training and corrects it.
            - ``world_size`` (int): number of processes; None (default):
              mmengine's ``get_world_size()``.
            - ``nominal_batch_size`` (int): ``nbs``, default 64.
    """

    def __init__(self, optim_wrapper_cfg: dict,
                 paramwise_cfg: Optional[dict] = None):
        self.optim_wrapper_cfg = dict(optim_wrapper_cfg)
        paramwise_cfg = dict(paramwise_cfg or {})
        self.batch_size_per_gpu = paramwise_cfg.pop('batch_size_per_gpu', None)
        self.world_size = paramwise_cfg.pop('world_size', None)
        self.nominal_batch_size = paramwise_cfg.pop('nominal_batch_size', 64)
        if paramwise_cfg:
            raise ValueError('YOLOv5OptimWrapperConstructor: unknown '
                             f'paramwise_cfg keys {sorted(paramwise_cfg)}')
        assert 'optimizer' in self.optim_wrapper_cfg, (
            '`optim_wrapper_cfg` must contain "optimizer"')

    def total_batch_size(self) -> int:
        if self.batch_size_per_gpu is None:
            return self.nominal_batch_size
        world_size = self.world_size or get_world_size()
        return self.batch_size_per_gpu * world_size

    def __call__(self, model: nn.Module) -> OptimWrapper:
        if is_model_wrapper(model):
            model = model.module
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        optimizer_cfg = dict(wrapper_cfg.pop('optimizer'))
        base_weight_decay = optimizer_cfg.pop('weight_decay', 0.0)
        total = self.total_batch_size()
        nbs = self.nominal_batch_size
        accumulate = yolov5_accumulate(total, nbs)
        weight_decay = yolov5_weight_decay(base_weight_decay, total, nbs)

        pg0, pg1, pg2 = yolov5_param_groups(model)
        grouped = {id(p) for p in pg0 + pg1 + pg2}
        missed = [n for n, p in model.named_parameters() if id(p) not in grouped]
        if missed:
            print_log(
                'YOLOv5OptimWrapperConstructor: as in the original, these '
                f'parameters are not optimised: {missed}', logger='current',
                level=logging.WARNING)

        opt_type = optimizer_cfg.get('type')
        opt_name = opt_type if isinstance(opt_type, str) else opt_type.__name__
        if 'momentum' in optimizer_cfg and opt_name.startswith('Adam'):
            # the original's --adam: betas=(momentum, 0.999)
            optimizer_cfg['betas'] = (optimizer_cfg.pop('momentum'), 0.999)
            optimizer_cfg.pop('nesterov', None)
        optimizer_cfg['params'] = [dict(params=pg0)]
        optimizer = OPTIMIZERS.build(optimizer_cfg)
        optimizer.add_param_group(dict(params=pg1, weight_decay=weight_decay))
        optimizer.add_param_group(dict(params=pg2))

        wrapper_cfg.setdefault('type', 'OptimWrapper')
        wrapper_cfg.setdefault('accumulative_counts', accumulate)
        optim_wrapper = OPTIM_WRAPPERS.build(
            wrapper_cfg, default_args=dict(optimizer=optimizer))
        # what the schedule hook checks against the real dataloader
        optim_wrapper.yolov5_settings = dict(
            total_batch_size=total, nominal_batch_size=nbs,
            base_weight_decay=base_weight_decay, decay_group=1, bias_group=2)
        print_log(
            f'YOLOv5OptimWrapperConstructor: {type(optimizer).__name__} with '
            f'{len(pg0)} BN weights (no decay), {len(pg1)} weights (decay '
            f'{weight_decay:g} = {base_weight_decay:g} x {total} x '
            f'{accumulate} / {nbs}), {len(pg2)} biases (no decay); total '
            f'batch {total}, accumulate {accumulate}', logger='current')
        return optim_wrapper
