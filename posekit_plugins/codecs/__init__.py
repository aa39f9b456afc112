from .associative_embedding_dark import AssociativeEmbeddingDARK
from .dark_heatmap import DARKHeatmap, default_dark_blur_kernel_size
from .dark_refinement import (
    gaussian_blur_kernel_1d,
    get_heatmap_maximum_torch,
    refine_keypoints_dark_numpy,
    refine_keypoints_dark_torch,
)
from .higherhrnet_associative_embedding import HigherHRNetAssociativeEmbedding
from .higherhrnet_parser import HigherHRNetParser

__all__ = [
    'AssociativeEmbeddingDARK', 'HigherHRNetAssociativeEmbedding',
    'HigherHRNetParser',
    'DARKHeatmap', 'default_dark_blur_kernel_size', 'gaussian_blur_kernel_1d',
    'get_heatmap_maximum_torch', 'refine_keypoints_dark_numpy',
    'refine_keypoints_dark_torch'
]
