"""The command line shared by ``yolopose2mmpose.py`` and ``kapao2mmpose.py``."""
import argparse
import os.path as osp
import sys
from typing import List, Optional

#: The repository (or, run by mim, the package's ``.mim``) root.
ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _resolve_config(path: str) -> str:
    """A config path as given, else relative to the repository root."""
    if osp.isfile(path) or osp.isabs(path):
        return path
    candidate = osp.join(ROOT, path)
    return candidate if osp.isfile(candidate) else path


def parse_args(arch: str, default_config: str, doc: str,
               argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help=f'original {arch} checkpoint (.pt)')
    parser.add_argument('dst', help='mmpose checkpoint to write (.pth)')
    parser.add_argument(
        '--config', default=osp.join('configs', default_config),
        help='mmpose config of the target model (default: %(default)s)')
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
    from posekit_plugins.utils import (
        convert_yolov5_checkpoint,
        save_mmengine_checkpoint,
    )

    config = _resolve_config(args.config)
    name = osp.relpath(osp.abspath(script), ROOT)
    try:
        state_dict, meta = convert_yolov5_checkpoint(
            args.src, config, arch, backbone_only=args.backbone_only,
            with_neck=args.with_neck, focus=args.focus, converter=name)
        dst = save_mmengine_checkpoint(state_dict, meta, args.dst)
    except (ValueError, FileNotFoundError) as e:
        # ConversionError, UnsafeCheckpointError, CorruptCheckpointError
        print(f'{osp.basename(script)}: error: {e}\nnothing was written.',
              file=sys.stderr)
        return 1
    print(f'{meta["source"]["description"]}\n'
          f'converted {len(state_dict)} tensors (Focus order: '
          f'{meta["focus_order"]}) for {config}\nwrote {dst}')
    return 0
