"""Convert a released YOLO-Pose checkpoint (edgeai-yolov5, branch yolo-pose)
into an mmpose checkpoint of our ``YOLOPoseHead`` model.

    python tools/model_converters/yolopose2mmpose.py SRC DST [--config CFG]
    python tools/model_converters/yolopose2mmpose.py yolov5s6.pt DST \\
        --backbone-only [--with-neck]

The source is read without the original code and without running anything
it contains (``posekit_plugins.utils.load_original_checkpoint``); the
mapping is checked against the model the config builds, and DST is written
only when every tensor maps (``mmpose.apis.init_model(CFG, DST)``,
``tools/test.py CFG DST`` and ``load_from=DST`` then load it). m6/l6 models:
pass their config. ``--backbone-only`` converts the backbone (and with
``--with-neck`` the neck) of any YOLOv5-P6 checkpoint, e.g. the YOLOv5s6
COCO detector, for ``load_from`` or a backbone ``init_cfg`` of type
``Pretrained`` with ``prefix='backbone.'``.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _checkout  # noqa: E402,F401  (this checkout's package first)
from _converter_cli import run  # noqa: E402

DEFAULT_CONFIG = 'yolopose_s6_4xb16-300e_coco-960.py'

if __name__ == '__main__':
    sys.exit(run('yolopose', DEFAULT_CONFIG, __file__, __doc__))
