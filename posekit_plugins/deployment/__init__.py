"""Deployment: end-to-end ONNX export of the models and its metadata."""
from .export import export_onnx
from .meta import META_KEY, read_export_meta, write_export_meta
from .onestage import (
    OneStageExportModel,
    export_onestage,
    postprocess_onestage,
)
from .runner import ONNXPoseRunner, crop_topdown, normalize_image
from .topdown import export_topdown

__all__ = ['META_KEY', 'read_export_meta', 'write_export_meta',
           'export_onnx', 'OneStageExportModel', 'export_onestage',
           'postprocess_onestage',
           'ONNXPoseRunner', 'crop_topdown', 'normalize_image',
           'export_topdown']
