"""Distributed training on machines without CUDA (gloo backend)."""
import os

import torch
import torch.distributed as dist
from mmengine.config import Config


def setup_cpu_distributed(cfg: Config) -> bool:
    """Make an mmengine runner train with several CPU processes.

    mmengine 0.10's launcher calls ``torch.cuda.set_device`` and its runner
    wraps the model with ``device_ids=[LOCAL_RANK]``; both fail without CUDA.
    When the job was started by ``torchrun`` (``LOCAL_RANK`` is set), the
    launcher is not ``'none'`` and no GPU is visible, this initialises the
    ``gloo`` process group itself (mmengine then skips its own
    initialisation) and builds the DDP wrapper with ``device_ids=None``.
    With CUDA, nothing is changed.

    Args:
        cfg (Config): The full config; ``cfg.launcher`` must be set.

    Returns:
        bool: Whether the CPU set-up was applied.
    """
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    if 'LOCAL_RANK' not in os.environ or 'WORLD_SIZE' not in os.environ:
        return False
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    return True


def shutdown_distributed() -> None:
    """End a distributed run cleanly: wait for every process, then destroy
    the process group. Left to interpreter exit, gloo's threads can be torn
    down while still joinable ("terminate called without an active
    exception", SIGABRT after a finished run)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
