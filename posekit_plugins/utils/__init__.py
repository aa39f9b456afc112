from .checkpoint import MMENGINE_CHECKPOINT_GLOBALS, enable_mmengine_checkpoint_loading
from .dist import setup_cpu_distributed

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'enable_mmengine_checkpoint_loading',
    'setup_cpu_distributed'
]
