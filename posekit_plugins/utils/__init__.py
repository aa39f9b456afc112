from .checkpoint import MMENGINE_CHECKPOINT_GLOBALS, enable_mmengine_checkpoint_loading
from .dist import setup_cpu_distributed, shutdown_distributed
from .original_checkpoint import (
    CorruptCheckpointError,
    UnsafeCheckpointError,
    load_original_checkpoint,
)
from .swahr_convert import convert_swahr_checkpoint, map_swahr_state_dict
from .yolov5_convert import (
    ConversionError,
    convert_yolov5_checkpoint,
    map_yolov5_state_dict,
    save_mmengine_checkpoint,
)

__all__ = [
    'MMENGINE_CHECKPOINT_GLOBALS', 'enable_mmengine_checkpoint_loading',
    'load_original_checkpoint', 'UnsafeCheckpointError',
    'CorruptCheckpointError', 'convert_yolov5_checkpoint',
    'map_yolov5_state_dict', 'save_mmengine_checkpoint', 'ConversionError',
    'setup_cpu_distributed', 'shutdown_distributed',
    'convert_swahr_checkpoint', 'map_swahr_state_dict'
]
