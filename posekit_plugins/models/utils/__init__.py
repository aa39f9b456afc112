from .kapao_fusion import (
    FusionResult,
    fuse_keypoint_objects,
    fuse_keypoint_objects_np,
    fuse_keypoint_objects_sequential,
)

__all__ = [
    'FusionResult', 'fuse_keypoint_objects', 'fuse_keypoint_objects_np',
    'fuse_keypoint_objects_sequential'
]
