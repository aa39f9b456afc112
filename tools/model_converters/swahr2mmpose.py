"""Convert a released HigherHRNet + SWAHR checkpoint (greatlog/SWAHR-HumanPose:
pose_higher_hrnet_w32_512.pth, pose_higher_hrnet_w48_640.pth) or a plain
HigherHRNet one into an mmpose checkpoint of our HRNet + AEHigherHRNetHead
model.

    python tools/model_converters/swahr2mmpose.py SRC DST [--config CFG]

The source is read without the original code and without running anything
it contains (``posekit_plugins.utils.load_original_checkpoint``); every
tensor is mapped and shape-checked against the model the config builds, and
DST is written only when all map (``mmpose.apis.init_model(CFG, DST)``,
``tools/test.py CFG DST`` and ``load_from=DST`` then load it). W48 or plain
HigherHRNet checkpoints: pass their config.
"""
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _checkout  # noqa: E402,F401  (this checkout's package first)
from _converter_cli import base_parser, convert_and_write  # noqa: E402

DEFAULT_CONFIG = 'ae_higherhrnet-w32_swahr-8xb24-300e_coco-512x512.py'


def main(argv=None) -> int:
    args = base_parser(__doc__, 'original checkpoint (.pth)',
                       DEFAULT_CONFIG).parse_args(argv)
    from posekit_plugins.utils import convert_swahr_checkpoint

    def convert(config, name):
        return convert_swahr_checkpoint(
            args.src, config, return_meta=True, converter=name)

    return convert_and_write(
        __file__, args.config, args.dst, convert,
        lambda sd, meta, config:
        f'converted {len(sd)} tensors ({meta["arch"]}) for {config}')


if __name__ == '__main__':
    sys.exit(main())
