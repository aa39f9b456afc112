"""The command line shared by the converters of released checkpoints
(``yolopose2mmpose.py``, ``kapao2mmpose.py``, ``swahr2mmpose.py``)."""
import argparse
import os.path as osp
import sys
from typing import Callable, List, Optional, Tuple

#: The repository (or, run by mim, the package's ``.mim``) root.
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _resolve_config(path: str) -> str:
    """A config path as given, else relative to the repository root."""
    if osp.isfile(path) or osp.isabs(path):
        return path
    candidate = osp.join(ROOT, path)
    return candidate if osp.isfile(candidate) else path


def base_parser(doc: str, src_help: str,
                default_config: str) -> argparse.ArgumentParser:
    """``SRC DST [--config CFG]``, the arguments of every converter."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help='mmpose checkpoint to write (.pth)')
    parser.add_argument(
        '--config', default=osp.join('configs', default_config),
        help='mmpose config of the target model (default: %(default)s)')
    return parser


def convert_and_write(script: str, config: str, dst: str,
                      convert: Callable[[str, str], Tuple[dict, dict]],
                      summary: Callable[[dict, dict, str], str]) -> int:
    """``convert(config, converter_name) -> (state_dict, meta)``, then write
    DST; on any conversion or loading error print it, write nothing and
    return 1."""
    from posekit_plugins.utils import save_mmengine_checkpoint

    config = _resolve_config(config)
    name = osp.relpath(osp.abspath(script), ROOT)
    try:
        state_dict, meta = convert(config, name)
        out = save_mmengine_checkpoint(state_dict, meta, dst)
    except (ValueError, FileNotFoundError) as e:
        # ConversionError, UnsafeCheckpointError, CorruptCheckpointError
        print(f'{osp.basename(script)}: error: {e}\nnothing was written.',
              file=sys.stderr)
        return 1
    print(f'{summary(state_dict, meta, config)}\nwrote {out}')
    return 0


def parse_args(arch: str, default_config: str, doc: str,
               argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = base_parser(doc, f'original {arch} checkpoint (.pt)',
                         default_config)
    parser.add_argument(
        '--backbone-only', action='store_true',
        help='convert only the backbone of any YOLOv5-P6 checkpoint (e.g. '
        'the YOLOv5s6 COCO detector)')
    parser.add_argument(
        '--with-neck', action='store_true',
        help='with --backbone-only: also convert the neck')
    parser.add_argument(
        '--focus', choices=('auto', 'contract', 'slice'), default='auto',
        help="the source's Focus order; auto: from the pickled modules, for "
        'a plain state dict contract (YOLO-Pose) or slice (KAPAO, YOLOv5 '
        'detectors)')
    args = parser.parse_args(argv)
    if args.with_neck and not args.backbone_only:
        parser.error('--with-neck needs --backbone-only (a full conversion '
                     'includes the neck)')
    return args


def run(arch: str, default_config: str, script: str, doc: str,
        argv: Optional[List[str]] = None) -> int:
    """Parse the arguments, convert, write; returns the exit status."""
    args = parse_args(arch, default_config, doc, argv)
    from posekit_plugins.utils import convert_yolov5_checkpoint

    def convert(config, name):
        return convert_yolov5_checkpoint(
            args.src, config, arch, backbone_only=args.backbone_only,
            with_neck=args.with_neck, focus=args.focus, converter=name)

    return convert_and_write(
        script, args.config, args.dst, convert,
        lambda sd, meta, config: (
            f'{meta["source"]["description"]}\n'
            f'converted {len(sd)} tensors (Focus order: '
            f'{meta["focus_order"]}) for {config}'))
