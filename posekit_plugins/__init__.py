"""posekit_plugins: YOLO-Pose, KAPAO, DARK and SWAHR for mmpose 1.x.

Importing the package registers every module into mmpose's registries
(scope ``mmpose``), so configs only need::

    custom_imports = dict(imports=['posekit_plugins'],
                          allow_failed_imports=False)
"""
from . import codecs, datasets, engine, models  # noqa: F401  (registration)
from .utils import enable_mmengine_checkpoint_loading
from .version import __version__

# mmengine 0.10.x loads its own checkpoints with a bare torch.load, which
# torch >= 2.6 refuses (weights_only=True); see utils/checkpoint.py.
enable_mmengine_checkpoint_loading()

__all__ = ['__version__', 'enable_mmengine_checkpoint_loading']
