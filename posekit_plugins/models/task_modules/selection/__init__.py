from .anchor_selection import clip_xy, image_bounds, select_and_nms
from .batched_selection import (
    MIN_NMS_OPSET,
    MultiClassNMSOp,
    batched_select_nms,
    gather_rows,
)

__all__ = [
    'select_and_nms', 'image_bounds', 'clip_xy', 'batched_select_nms',
    'MultiClassNMSOp', 'gather_rows', 'MIN_NMS_OPSET'
]
