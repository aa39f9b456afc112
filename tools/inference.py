"""Run a pose model on an image, a folder of images or a video.

Uses mmpose's ``MMPoseInferencer`` and writes to ``--out DIR``, per input:

- the drawn result: ``DIR/<name>`` for an image (same name and format as the
  input), ``DIR/<stem>.mp4`` for a video;
- the predictions: ``DIR/<stem>.json``; for an image ``{"image", "width",
  "height", "model_family", "score_thr", "persons": [...]}``, for a video the
  same with ``"video"``, ``"fps"`` and ``"frames": [{"frame_id",
  "persons"}]``; each person as mmpose writes it (``keypoints`` (K, 2) in
  the image's pixels, ``keypoint_scores`` (K,), ``bbox`` [[x1, y1, x2, y2]]
  (none for bottom-up AE persons), ``bbox_score`` (the person score)).

Files are written under temporary names and renamed when complete, so an
error (an unreadable image, a video that cannot be opened or read) leaves no
partial file.

Person-score threshold (``--score-thr``; a person is kept when its score is
above it). The one-stage and bottom-up configs keep a very low threshold in
their ``test_cfg`` (0.001 / 0.01: COCO AP rewards every low-scoring guess),
which would draw hundreds of skeletons, so the default depends on the family:

- one-stage (YOLO-Pose, KAPAO, YOLOX-Pose): 0.3 on the person score
  (objectness x class); it replaces the head's ``score_thr`` for the run,
  the config's NMS IoU is kept;
- bottom-up associative embedding (HigherHRNet / SWAHR): 0.4 on the grouped
  person's score (the decoder's, e.g. ``HigherHRNetParser``);
- top-down: 0.3 on the person box's score (mmpose's detector threshold);
  boxes from ``--bboxes`` without a score, and the whole-image box, score 1.

The one-stage and bottom-up defaults were measured with the tiny configs
trained on ``data/coco_tiny`` (300 iterations) and run on those 4 images (12
annotated persons; a detection is a person's when OKS >= 0.5): the annotated
persons the one-stage models find score 0.72 or more, and 0.3 keeps all of
them while dropping all but 3-10 of their 1188-5337 other detections; the
AE model's score 11 of the 12 persons at 0.59 or more, and 0.4 keeps those
and drops all 517 others (0.1 would keep 109). Models trained on 4 images
find almost nobody on ``data/coco_mini``, so only the separation is
measured, not the scores of a COCO-trained model (README, "Inference on
images and videos").

Top-down models need person boxes. Nothing is downloaded here, so mmpose's
default person detector (RTMDet, fetched from the internet) is not used:

- ``--bboxes FILE``: boxes from a JSON file, either a COCO annotation file
  (non-crowd persons, by image file name) or ``{"<image file name or frame
  index>": [[x1, y1, x2, y2(, score)], ...]}``; inputs without an entry get
  the whole-image box;
- ``--det-model CFG --det-weights CKPT [--det-cat-ids 0]``: an mmdet person
  detector you have locally (e.g. mmpose's
  ``demo/mmdetection_cfg/rtmdet_m_640-8xb32_coco-person.py`` and its
  checkpoint), as ``MMPoseInferencer``'s ``det_model`` / ``det_weights``;
- neither: one box covering the whole image, i.e. one person per image
  (right for single-person crops, wrong for group pictures).

Examples::

    python tools/inference.py configs/yolopose_tiny_1xb4-300e_coco-tiny-256.py \\
        yolopose.pth data/coco_tiny --out work_dirs/inference
    python tools/inference.py configs/td-hm_res18_dark-1xb12-300e_coco-tiny-128x96.py \\
        dark.pth data/coco_tiny/000000196141.jpg --out out \\
        --bboxes data/coco_tiny/test_coco.json
    python tools/inference.py CONFIG CKPT video.mp4 --out out --score-thr 0.5
"""
import argparse
import json
import os
import os.path as osp
import sys
from typing import Dict, Iterator, List, Optional, Tuple

import _checkout  # noqa: F401  (this checkout's package first)
import cv2
import numpy as np

IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.webp', '.tif', '.tiff')
VIDEO_EXTS = ('.mp4', '.avi', '.mov', '.mkv', '.webm', '.m4v', '.mpg',
              '.mpeg')

#: Heads that detect persons in one pass (a person score per detection).
ONE_STAGE_HEADS = ('YOLOPoseHead', 'KAPAOHead', 'YOLOXPoseHead', 'RTMOHead')

#: Default person-score threshold per model family (module docstring, README).
DEFAULT_SCORE_THR = {'one-stage': 0.3, 'bottom-up': 0.4, 'top-down': 0.3}


class InferenceError(RuntimeError):
    """Bad input; the message names the problem and the file."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('input', help='an image, a folder of images or a video')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument(
        '--score-thr', type=float,
        help='keep persons scoring above this (default per family: '
        + ', '.join(f'{k} {v}' for k, v in DEFAULT_SCORE_THR.items()) + ')')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='draw keypoints scoring above this')
    parser.add_argument('--device', help='cpu, cuda:0, ... (default: cuda:0 '
                        'when available, else cpu)')
    parser.add_argument('--bboxes', help='top-down: JSON file of person boxes')
    parser.add_argument('--det-model', help='top-down: mmdet detector config')
    parser.add_argument('--det-weights', help='top-down: its checkpoint')
    parser.add_argument('--det-cat-ids', type=int, nargs='+', default=[0],
                        help='the detector\'s person class ids (default 0)')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    if args.bboxes and args.det_model:
        parser.error('give --bboxes or --det-model, not both')
    if bool(args.det_model) != bool(args.det_weights):
        parser.error('--det-model and --det-weights go together')
    return args


def model_family(cfg) -> str:
    """``'top-down'``, ``'one-stage'`` or ``'bottom-up'`` (grouping, e.g.
    associative embedding), from the config's model and head types."""
    model_type = cfg.model.get('type')
    if model_type == 'TopdownPoseEstimator':
        return 'top-down'
    if model_type == 'BottomupPoseEstimator':
        head = cfg.model.get('head', {}).get('type', '')
        return 'one-stage' if head.split('.')[-1] in ONE_STAGE_HEADS \
            else 'bottom-up'
    raise InferenceError(
        f'unsupported model type {model_type!r}: tools/inference.py runs 2D '
        'TopdownPoseEstimator and BottomupPoseEstimator models')


def list_inputs(path: str) -> Tuple[str, List[str]]:
    """``('video', [path])`` or ``('images', [paths])``; a folder gives its
    images (by extension, sorted)."""
    if osp.isdir(path):
        images = sorted(osp.join(path, f) for f in os.listdir(path)
                        if f.lower().endswith(IMAGE_EXTS)
                        and osp.isfile(osp.join(path, f)))
        if not images:
            raise InferenceError(f'no images ({", ".join(IMAGE_EXTS)}) in '
                                 f'the folder {path}')
        return 'images', images
    if not osp.isfile(path):
        raise InferenceError(f'input not found: {path}')
    ext = osp.splitext(path)[1].lower()
    if ext in IMAGE_EXTS:
        return 'images', [path]
    if ext in VIDEO_EXTS:
        return 'video', [path]
    raise InferenceError(
        f'{path}: not an image ({", ".join(IMAGE_EXTS)}) nor a video '
        f'({", ".join(VIDEO_EXTS)}) by its extension')


def load_boxes(path: str) -> Dict[str, np.ndarray]:
    """Person boxes by image file name (or video frame index as a string),
    each (N, 5) ``x1, y1, x2, y2, score`` (score 1 when not given)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise InferenceError(f'--bboxes {path}: cannot read JSON: {e}') from e
    raw: Dict[str, list] = {}
    if isinstance(data, dict) and 'images' in data and 'annotations' in data:
        # a COCO annotation file: its non-crowd person boxes (xywh)
        names = {im['id']: im['file_name'] for im in data['images']}
        for ann in data['annotations']:
            if ann.get('iscrowd', 0) or ann['image_id'] not in names:
                continue
            x, y, w, h = ann['bbox']
            raw.setdefault(osp.basename(names[ann['image_id']]), []).append(
                [x, y, x + w, y + h, 1.0])
    elif isinstance(data, dict):
        raw = {str(k): v for k, v in data.items()}
    else:
        raise InferenceError(
            f'--bboxes {path}: expected a COCO annotation file or '
            '{"image name or frame index": [[x1, y1, x2, y2(, score)], ...]}')
    boxes = {}
    for key, value in raw.items():
        arr = np.asarray(value, dtype=np.float32)
        if arr.size == 0:
            arr = arr.reshape(0, 5)
        if arr.ndim != 2 or arr.shape[1] not in (4, 5) \
                or not np.isfinite(arr).all():
            raise InferenceError(
                f'--bboxes {path}: entry {key!r} is not a list of finite '
                '[x1, y1, x2, y2] or [x1, y1, x2, y2, score] boxes')
        if arr.shape[1] == 4:
            arr = np.concatenate([arr, np.ones((len(arr), 1), np.float32)], 1)
        boxes[key] = arr
    return boxes


class PersonBoxes:
    """Stands in for mmdet's ``DetInferencer`` in mmpose's top-down
    inferencer: returns the given boxes of the current input, or those of a
    real detector, already filtered by class and score.

    Filtering here (not only in mmpose) tells whether an input has no person
    left: mmpose would then run the model on the whole-image box, i.e. draw a
    person where the boxes say there is none.
    """

    def __init__(self, score_thr: float, detector=None,
                 cat_ids: Tuple[int, ...] = (0,)):
        self.score_thr = score_thr
        self.detector = detector
        self.cat_ids = cat_ids
        self.current: Optional[np.ndarray] = None  # set per input

    def boxes_for(self, image: np.ndarray) -> np.ndarray:
        """(N, 5) boxes above the threshold: the given ones, or detected."""
        if self.detector is None:
            boxes = self.current
        else:
            inst = self.detector(image, return_datasamples=True)[
                'predictions'][0].pred_instances.cpu().numpy()
            keep = np.isin(inst.labels, self.cat_ids)
            boxes = np.concatenate(
                [inst.bboxes[keep], inst.scores[keep, None]], axis=1)
        return boxes[boxes[:, 4] > self.score_thr]

    def __call__(self, image, return_datasamples=True, **kwargs) -> dict:
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        boxes = self.current
        sample = PoseDataSample()
        sample.pred_instances = InstanceData(
            bboxes=boxes[:, :4], scores=boxes[:, 4],
            labels=np.zeros(len(boxes), dtype=np.int64))
        return dict(predictions=[sample])


class PoseRunner:
    """``MMPoseInferencer`` on one BGR image at a time, with the family's
    person-score threshold; returns a ``PoseDataSample`` and draws it."""

    def __init__(self, args: argparse.Namespace):
        import torch
        from mmengine.config import Config
        from mmpose.apis import MMPoseInferencer

        import posekit_plugins  # noqa: F401  (registers modules, loading)
        for what, path in (('config', args.config),
                           ('checkpoint', args.checkpoint),
                           ('--bboxes file', args.bboxes),
                           ('--det-model config', args.det_model),
                           ('--det-weights checkpoint', args.det_weights)):
            if path and not osp.isfile(path):
                raise InferenceError(f'{what} not found: {path}')
        try:
            cfg = Config.fromfile(args.config)
        except Exception as e:  # noqa: BLE001 - reported clearly
            raise InferenceError(f'config {args.config} does not parse: '
                                 f'{type(e).__name__}: {e}') from e
        self.family = model_family(cfg)
        if self.family != 'top-down' and (args.bboxes or args.det_model):
            raise InferenceError(
                f'--bboxes / --det-model are for top-down models; '
                f'{args.config} is {self.family} (it finds persons itself)')
        self.score_thr = (DEFAULT_SCORE_THR[self.family]
                          if args.score_thr is None else args.score_thr)
        self.kpt_thr = args.kpt_thr
        device = args.device or ('cuda:0' if torch.cuda.is_available()
                                 else 'cpu')
        try:
            self.inferencer = MMPoseInferencer(
                pose2d=args.config, pose2d_weights=args.checkpoint,
                device=device,
                # top-down without a detector of the user's: whole-image box
                # (mmpose's default detector would be downloaded)
                det_model=args.det_model or 'whole_image',
                det_weights=args.det_weights,
                det_cat_ids=tuple(args.det_cat_ids))
        except Exception as e:  # noqa: BLE001 - e.g. a mismatched checkpoint
            raise InferenceError(
                f'cannot build the model from {args.config} and '
                f'{args.checkpoint}: {type(e).__name__}: {e}') from e
        pose = self.inferencer.inferencer
        self.visualizer = pose.visualizer
        self.num_keypoints = pose.model.dataset_meta['num_keypoints']
        self.boxes: Optional[PersonBoxes] = None
        self.given: Dict[str, np.ndarray] = {}
        self.nms_thr = 0.3  # mmpose's detector NMS
        if self.family == 'top-down':
            if args.bboxes or args.det_model:
                self.given = load_boxes(args.bboxes) if args.bboxes else {}
                self.boxes = PersonBoxes(self.score_thr, pose.detector,
                                         tuple(args.det_cat_ids))
                pose.detector, pose.det_cat_ids = self.boxes, (0,)
                # given boxes are persons as they are: no NMS between them
                self.nms_thr = 1.0 if args.bboxes else 0.3
        else:
            # keep the config's NMS IoU; the inferencer would set 0.3
            test_cfg = getattr(pose.model.head, 'test_cfg', None) or {}
            self.nms_thr = test_cfg.get('nms_thr', 0.3)

    def __call__(self, image: np.ndarray, key: str):
        """Predictions for one BGR image; ``key`` finds its given boxes."""
        from mmengine.structures import InstanceData
        from mmpose.structures import PoseDataSample
        if self.boxes is not None:
            h, w = image.shape[:2]
            if self.boxes.detector is None:
                self.boxes.current = self.given.get(
                    key, np.array([[0, 0, w, h, 1]], dtype=np.float32))
            self.boxes.current = self.boxes.boxes_for(image)
            if len(self.boxes.current) == 0:  # nobody: not the whole image
                sample = PoseDataSample()
                sample.pred_instances = InstanceData(
                    keypoints=np.zeros((0, self.num_keypoints, 2), np.float32),
                    keypoint_scores=np.zeros((0, self.num_keypoints),
                                             np.float32),
                    bboxes=np.zeros((0, 4), np.float32),
                    bbox_scores=np.zeros(0, np.float32))
                return sample
        result = next(self.inferencer(
            image, return_datasamples=True, bbox_thr=self.score_thr,
            nms_thr=self.nms_thr))
        sample = result['predictions'][0]
        scores = sample.pred_instances.get('bbox_scores')
        if scores is not None:  # the inferencer filters, but not for all
            sample.pred_instances = sample.pred_instances[
                np.asarray(scores) > self.score_thr]
        return sample

    def draw(self, image: np.ndarray, sample) -> np.ndarray:
        """The BGR image with the persons' boxes and skeletons drawn."""
        drawn = self.visualizer.add_datasample(
            'prediction', image[..., ::-1].copy(), data_sample=sample,
            draw_gt=False, draw_bbox=True, kpt_thr=self.kpt_thr, show=False)
        return np.ascontiguousarray(drawn[..., ::-1])


def persons(sample) -> List[dict]:
    """The persons of a ``PoseDataSample`` as JSON-ready dicts (mmpose's
    ``split_instances``)."""
    from mmpose.structures import split_instances
    inst = sample.pred_instances
    out = split_instances(inst)
    # mmpose writes bbox_score only with a box; AE persons have no box
    if 'bbox_scores' in inst:
        for person, score in zip(out, np.asarray(inst.bbox_scores)):
            person.setdefault('bbox_score', float(score))
    return out


def _partial(path: str) -> str:
    """A hidden name next to ``path``, same extension (cv2 picks the format
    from it)."""
    head, tail = osp.split(path)
    return osp.join(head, f'.{tail}.partial{osp.splitext(tail)[1]}')


def _to_json(value):
    """numpy scalars and arrays (mmpose's ``split_instances`` keeps some)."""
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    raise TypeError(f'{type(value).__name__} is not JSON serializable')


def _write_json(path: str, data: dict) -> None:
    tmp = _partial(path)
    try:
        with open(tmp, 'w') as f:
            json.dump(data, f, indent=1, default=_to_json)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)


def run_images(runner: PoseRunner, images: List[str], out: str,
               progress: bool) -> List[str]:
    from tqdm import tqdm
    stems = [osp.splitext(osp.basename(p))[0] for p in images]
    if len(set(stems)) != len(stems):
        dup = next(s for s in stems if stems.count(s) > 1)
        raise InferenceError(f'two inputs named {dup}.*: their outputs '
                             'would overwrite each other')
    written = []
    for path, stem in zip(tqdm(images, disable=not progress or len(images) < 2,
                               desc='images'), stems):
        image = cv2.imread(path, cv2.IMREAD_COLOR)
        if image is None:
            raise InferenceError(f'cannot read the image {path}')
        sample = runner(image, osp.basename(path))
        drawn_path = osp.join(out, osp.basename(path))
        tmp = _partial(drawn_path)
        try:
            if not cv2.imwrite(tmp, runner.draw(image, sample)):
                raise InferenceError(f'cannot write {drawn_path}')
            os.replace(tmp, drawn_path)
        finally:
            if osp.exists(tmp):
                os.remove(tmp)
        json_path = osp.join(out, stem + '.json')
        _write_json(json_path, dict(
            image=path, width=image.shape[1], height=image.shape[0],
            model_family=runner.family, score_thr=runner.score_thr,
            persons=persons(sample)))
        written += [drawn_path, json_path]
    return written


def _frames(cap) -> Iterator[np.ndarray]:
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield frame


def run_video(runner: PoseRunner, path: str, out: str,
              progress: bool) -> List[str]:
    from tqdm import tqdm
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        raise InferenceError(f'cannot open the video {path} (not a video, '
                             'or a codec OpenCV lacks)')
    stem = osp.splitext(osp.basename(path))[0]
    video_path, json_path = (osp.join(out, stem + '.mp4'),
                             osp.join(out, stem + '.json'))
    tmp = _partial(video_path)
    writer = None
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) or None
    frames = []
    try:
        for i, frame in enumerate(tqdm(_frames(cap), total=total,
                                       disable=not progress, desc='frames',
                                       unit='frame')):
            sample = runner(frame, str(i))
            drawn = runner.draw(frame, sample)
            if writer is None:
                writer = cv2.VideoWriter(
                    tmp, cv2.VideoWriter_fourcc(*'mp4v'), fps,
                    (drawn.shape[1], drawn.shape[0]))
                if not writer.isOpened():
                    raise InferenceError(f'cannot write the video {tmp}')
            writer.write(drawn)
            frames.append(dict(frame_id=i, persons=persons(sample)))
        if not frames:
            raise InferenceError(f'no frame could be read from the video '
                                 f'{path}')
        writer.release()
        writer = None
        _write_json(json_path, dict(
            video=path, fps=fps, width=drawn.shape[1], height=drawn.shape[0],
            model_family=runner.family, score_thr=runner.score_thr,
            frames=frames))
        os.replace(tmp, video_path)
    finally:
        cap.release()
        if writer is not None:
            writer.release()
        if osp.exists(tmp):
            os.remove(tmp)
    return [video_path, json_path]


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        kind, inputs = list_inputs(args.input)
        out = osp.abspath(args.out)
        if kind == 'images' and osp.dirname(osp.abspath(inputs[0])) == out:
            raise InferenceError(f'--out {args.out} is the input folder: the '
                                 'drawn images would replace the inputs')
        runner = PoseRunner(args)
        os.makedirs(out, exist_ok=True)
        progress = not args.no_progress
        written = (run_video(runner, inputs[0], out, progress)
                   if kind == 'video' else
                   run_images(runner, inputs, out, progress))
    except InferenceError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'{runner.family} model, person-score threshold '
          f'{runner.score_thr}; written: ' + ', '.join(written[:4]) +
          (f' and {len(written) - 4} more' if len(written) > 4 else ''))
    return 0


if __name__ == '__main__':
    sys.exit(main())
