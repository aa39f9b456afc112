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
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _checkout  # noqa: E402,F401  (this checkout's package first)
from _converter_cli import _resolve_config  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CONFIG = 'ae_higherhrnet-w32_swahr-8xb24-300e_coco-512x512.py'


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='original checkpoint (.pth)')
    parser.add_argument('dst', help='mmpose checkpoint to write (.pth)')
    parser.add_argument(
        '--config', default=osp.join('configs', DEFAULT_CONFIG),
        help='mmpose config of the target model (default: %(default)s)')
    args = parser.parse_args(argv)
    from posekit_plugins.utils import (
        convert_swahr_checkpoint,
        save_mmengine_checkpoint,
    )

    config = _resolve_config(args.config)
    name = osp.relpath(osp.abspath(__file__), ROOT)
    try:
        state_dict, meta = convert_swahr_checkpoint(
            args.src, config, return_meta=True, converter=name)
        dst = save_mmengine_checkpoint(state_dict, meta, args.dst)
    except (ValueError, FileNotFoundError) as e:
        # ConversionError, UnsafeCheckpointError, CorruptCheckpointError
        print(f'{osp.basename(__file__)}: error: {e}\nnothing was written.',
              file=sys.stderr)
        return 1
    print(f'converted {len(state_dict)} tensors ({meta["arch"]}) for '
          f'{config}\nwrote {dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
