from .yolov5_coders import (
                            cell_grid,
                            decode_box_cell,
                            decode_kapao_keypoints,
                            decode_yolopose_keypoints,
)

__all__ = [
    'cell_grid', 'decode_box_cell', 'decode_kapao_keypoints',
    'decode_yolopose_keypoints'
]
