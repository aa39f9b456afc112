from .associative_embedding_dark import AssociativeEmbeddingDARK
from .dark_heatmap import DARKHeatmap, default_dark_blur_kernel_size
from .dark_refinement import (
    gaussian_blur_kernel_1d,
    get_heatmap_maximum_torch,
    refine_keypoints_dark_numpy,
    refine_keypoints_dark_torch,
)

__all__ = [
    'AssociativeEmbeddingDARK',
    'DARKHeatmap', 'default_dark_blur_kernel_size', 'gaussian_blur_kernel_1d',
    'get_heatmap_maximum_torch', 'refine_keypoints_dark_numpy',
    'refine_keypoints_dark_torch'
]
