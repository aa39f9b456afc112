"""Run an exported ONNX pose model with onnxruntime on an image or a video.

Draws the predicted skeletons with mmpose's ``PoseLocalVisualizer`` (the
skeleton and colours come from the dataset metainfo stored in the model) and
writes the predictions as JSON next to the drawn output::

    python tools/deployment/onnx_inference.py model.onnx image.jpg --out pred.jpg
    python tools/deployment/onnx_inference.py model.onnx clip.mp4 --out pred.mp4
    # top-down models need the person boxes (xyxy, or --bbox-format xywh)
    python tools/deployment/onnx_inference.py td.onnx image.jpg --out pred.jpg \\
        --bboxes boxes.json

``--bboxes`` JSON: for an image, a list of boxes ``[[x1, y1, x2, y2(, score)],
...]`` (or ``{"bboxes": [...]}``); for a video, a list with one such list
per frame, or ``{"<frame index>": [...], ...}`` (frames not listed have no
person). Outputs are written under a temporary name and renamed when
complete: a failed run (e.g. a video that cannot be opened) leaves no file.
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _checkout  # noqa: F401,E402  (this checkout's package first)
import cv2  # noqa: E402
import numpy as np  # noqa: E402

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
#: persons drawn / written by default: one-stage heads keep everything above
#: the config's 0.001 (for COCO AP); 0.3 is the originals' demo threshold
#: (YOLO-Pose detect.py --conf-thres 0.25, KAPAO's demos 0.3 person
#: confidence) and the README's pictures. Top-down boxes are the user's.
DEFAULT_SCORE_THR = dict(onestage=0.3, topdown=None)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('model', help='ONNX model exported by '
                        'tools/deployment/pytorch2onnx.py')
    parser.add_argument('input', help='an image or a video file')
    parser.add_argument('--out', required=True,
                        help='drawn output: an image, or a video (.mp4, '
                        '.avi) for a video input')
    parser.add_argument('--json-out', help='predictions JSON (default: '
                        '--out with the suffix .json)')
    parser.add_argument('--bboxes', help='JSON file of person boxes '
                        '(top-down models)')
    parser.add_argument('--bbox-format', choices=('xyxy', 'xywh'),
                        default='xyxy')
    parser.add_argument('--score-thr', type=float, default=None,
                        help='keep persons scoring at least this (default: '
                        '0.3 for one-stage models, all boxes for top-down)')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='draw keypoints scoring above this')
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'),
                        help='onnxruntime provider')
    parser.add_argument('--threads', type=int, default=None,
                        help='onnxruntime intra-op threads (default: cores)')
    return parser.parse_args(argv)


def _boxes(value, fmt: str, where: str) -> np.ndarray:
    if isinstance(value, dict):
        value = value.get('bboxes', value.get('boxes'))
    arr = np.asarray(value if value is not None else [], dtype=np.float32)
    if arr.size == 0:
        return np.zeros((0, 4), np.float32)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f'{where}: boxes must be a list of [x1, y1, x2, y2'
                         f'(, score)], got an array of shape {arr.shape}')
    if fmt == 'xywh':
        arr = arr.copy()
        arr[:, 2:4] += arr[:, 0:2]
    return arr


def load_bboxes(path: str, fmt: str, video: bool):
    """Boxes from ``--bboxes``: an array (image) or frame -> array (video)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except FileNotFoundError:
        raise SystemExit(f'error: --bboxes file not found: {path}') from None
    except json.JSONDecodeError as e:
        raise SystemExit(f'error: --bboxes {path} is not JSON: {e}') from None
    if not video:
        return _boxes(data, fmt, path)
    if isinstance(data, dict) and 'bboxes' not in data:
        return {int(k): _boxes(v, fmt, f'{path} frame {k}')
                for k, v in data.items()}
    if isinstance(data, dict):
        data = data['bboxes']
    return {i: _boxes(v, fmt, f'{path} frame {i}') for i, v in enumerate(data)}


def _instances(sample) -> List[Dict]:
    from mmpose.structures import split_instances
    return split_instances(sample.pred_instances)


class Drawer:
    """mmpose's visualizer set up with the model's dataset metainfo."""

    def __init__(self, dataset_meta: dict, kpt_thr: float) -> None:
        from mmpose.visualization import PoseLocalVisualizer
        self.vis = PoseLocalVisualizer(radius=3, line_width=1)
        self.vis.set_dataset_meta(dataset_meta)
        self.kpt_thr = kpt_thr

    def __call__(self, img_bgr: np.ndarray, sample) -> np.ndarray:
        self.vis.add_datasample(
            'result', img_bgr[..., ::-1].copy(), sample, draw_gt=False,
            draw_bbox=True, kpt_thr=self.kpt_thr, show=False)
        return np.ascontiguousarray(self.vis.get_image()[..., ::-1])


def _tmp_name(path: str) -> str:
    d, name = osp.split(osp.abspath(path))
    stem, ext = osp.splitext(name)
    return osp.join(d, f'.{stem}.partial-{os.getpid()}{ext}')


def _plain(obj):
    """numpy scalars and arrays (split_instances keeps some) for JSON."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f'{type(obj).__name__} is not JSON serializable')


def _write_json(path: str, data: dict) -> None:
    tmp = _tmp_name(path)
    try:
        with open(tmp, 'w') as f:
            json.dump(data, f, default=_plain)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def run_image(runner, args, drawer: Drawer, json_out: str) -> None:
    img = cv2.imread(args.input)
    if img is None:
        raise SystemExit(f'error: cannot read the image {args.input}')
    bboxes = None
    if args.bboxes:
        bboxes = load_bboxes(args.bboxes, args.bbox_format, video=False)
    sample = runner(img, bboxes)
    drawn = drawer(img, sample)
    tmp = _tmp_name(args.out)
    try:
        if not cv2.imwrite(tmp, drawn):
            raise SystemExit(f'error: cannot write the image {args.out} '
                             '(unknown suffix or directory)')
        _write_json(json_out, dict(model=args.model, input=args.input,
                                   instances=_instances(sample)))
        os.replace(tmp, args.out)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    print(f'{len(sample.pred_instances)} persons -> {args.out}, {json_out}')


def _fourcc(path: str) -> int:
    ext = osp.splitext(path)[1].lower()
    codes = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.avi': 'MJPG',
             '.mkv': 'MJPG'}
    if ext not in codes:
        raise SystemExit(f'error: --out {path}: video suffix must be one of '
                         f'{sorted(codes)}')
    return cv2.VideoWriter_fourcc(*codes[ext])


def run_video(runner, args, drawer: Drawer, json_out: str) -> None:
    from tqdm import tqdm
    fourcc = _fourcc(args.out)
    if not osp.isfile(args.input):
        raise SystemExit(f'error: video not found: {args.input}')
    cap = cv2.VideoCapture(args.input)
    if not cap.isOpened():
        raise SystemExit(f'error: cannot open the video {args.input} '
                         '(not a video, or a codec OpenCV lacks)')
    boxes = None
    if args.bboxes:
        boxes = load_bboxes(args.bboxes, args.bbox_format, video=True)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    tmp = _tmp_name(args.out)
    writer: Optional[cv2.VideoWriter] = None
    frames = []
    try:
        with tqdm(total=total, unit='frame', desc='onnx_inference') as bar:
            while True:
                ok, frame = cap.read()
                if not ok:
                    break
                i = len(frames)
                frame_boxes = None
                if runner.family == 'topdown':
                    frame_boxes = (boxes or {}).get(
                        i, np.zeros((0, 4), np.float32))
                sample = runner(frame, frame_boxes)
                drawn = drawer(frame, sample)
                if writer is None:
                    h, w = drawn.shape[:2]
                    writer = cv2.VideoWriter(tmp, fourcc, fps, (w, h))
                    if not writer.isOpened():
                        raise SystemExit(
                            f'error: cannot write the video {args.out}')
                writer.write(drawn)
                frames.append(dict(frame=i, instances=_instances(sample)))
                bar.update(1)
        if not frames:
            raise SystemExit(f'error: no frame could be read from the video '
                             f'{args.input}')
        writer.release()
        writer = None
        _write_json(json_out, dict(model=args.model, input=args.input,
                                   fps=fps, frames=frames))
        os.replace(tmp, args.out)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if osp.exists(tmp):
            os.remove(tmp)
    print(f'{len(frames)} frames -> {args.out}, {json_out}')


def main(argv=None) -> None:
    args = parse_args(argv)
    from posekit_plugins.deployment import ONNXPoseRunner
    if not osp.exists(args.input):
        raise SystemExit(f'error: input not found: {args.input}')
    if not osp.isfile(args.model):
        raise SystemExit(f'error: model not found: {args.model}')
    out_dir = osp.dirname(osp.abspath(args.out))
    if not osp.isdir(out_dir):
        raise SystemExit(f'error: the directory of --out does not exist: '
                         f'{out_dir}')
    json_out = args.json_out or osp.splitext(args.out)[0] + '.json'
    runner = ONNXPoseRunner(args.model, providers=args.device,
                            num_threads=args.threads)
    score_thr = args.score_thr
    if score_thr is None:
        score_thr = DEFAULT_SCORE_THR[runner.family]
    runner.score_thr = score_thr
    if runner.family == 'topdown' and not args.bboxes:
        raise SystemExit(f'error: {args.model} is a top-down model: give the '
                         'person boxes with --bboxes JSON')
    if runner.family == 'onestage' and args.bboxes:
        raise SystemExit(f'error: {args.model} is a one-stage model: it '
                         'finds the persons itself, --bboxes is not used')
    drawer = Drawer(runner.dataset_meta, args.kpt_thr)
    if osp.splitext(args.input)[1].lower() in IMAGE_SUFFIXES:
        run_image(runner, args, drawer, json_out)
    else:
        run_video(runner, args, drawer, json_out)


if __name__ == '__main__':
    main()
