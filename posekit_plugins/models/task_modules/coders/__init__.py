from .yolov5_coders import (
    ExtraDecoder,
    cell_grid,
    decode_anchor_outputs,
    decode_box_cell,
    decode_kapao_keypoints,
    decode_yolopose_keypoints,
)

__all__ = [
    'ExtraDecoder', 'cell_grid', 'decode_anchor_outputs', 'decode_box_cell',
    'decode_kapao_keypoints', 'decode_yolopose_keypoints'
]
