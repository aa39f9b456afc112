"""Draw a model's predicted skeletons on an image with mmpose's visualizer.

Top-down models are given the image's person boxes from a COCO annotation
file (``--ann-file``, default: the config's test annotation file); bottom-up
models need none; their detections below ``--bbox-thr`` are not drawn (the
heads keep low-scoring ones for COCO evaluation).

    python tools/visualize.py CONFIG CHECKPOINT IMAGE --out pred.png
"""
import argparse
import os
import os.path as osp

import _checkout  # noqa: F401  (this checkout's package first)
import mmcv
import numpy as np
from mmengine.config import Config
from mmpose.apis import inference_bottomup, inference_topdown, init_model
from mmpose.registry import VISUALIZERS
from mmpose.structures import merge_data_samples
from pycocotools.coco import COCO

import posekit_plugins  # noqa: F401  (registers modules, checkpoint loading)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--out', required=True, help='output image file')
    parser.add_argument('--ann-file', help='COCO file with the person boxes')
    parser.add_argument('--kpt-thr', type=float, default=0.3)
    parser.add_argument('--bbox-thr', type=float, default=0.3,
                        help='draw only persons whose box scores above '
                        '(top-down boxes from the annotations score 1)')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args()


def person_boxes(ann_file: str, image: str) -> np.ndarray:
    """(N, 4) xyxy boxes of the non-crowd persons annotated on ``image``."""
    coco = COCO(ann_file)
    name = osp.basename(image)
    ids = [i for i, im in coco.imgs.items() if im['file_name'] == name]
    if not ids:
        raise ValueError(f'{image} is not listed in {ann_file}')
    anns = coco.loadAnns(coco.getAnnIds(imgIds=ids, iscrowd=False))
    boxes = np.array([a['bbox'] for a in anns], dtype=np.float32).reshape(-1, 4)
    boxes[:, 2:] += boxes[:, :2]
    return boxes


def main() -> None:
    args = parse_args()
    cfg = Config.fromfile(args.config)
    model = init_model(cfg, args.checkpoint, device=args.device)
    if cfg.model.type == 'TopdownPoseEstimator':
        ann_file = args.ann_file or cfg.test_evaluator.ann_file
        samples = inference_topdown(
            model, args.image, person_boxes(ann_file, args.image), 'xyxy')
    else:
        samples = inference_bottomup(model, args.image)
    result = merge_data_samples(samples)
    scores = result.pred_instances.get('bbox_scores')
    if scores is not None:
        result.pred_instances = result.pred_instances[scores > args.bbox_thr]

    visualizer = VISUALIZERS.build(model.cfg.visualizer)
    visualizer.set_dataset_meta(model.dataset_meta)
    image = mmcv.imread(args.image, channel_order='rgb')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    visualizer.add_datasample(
        'prediction', image, data_sample=result, draw_gt=False,
        draw_bbox=True, kpt_thr=args.kpt_thr, show=False, out_file=args.out)
    print(f'picture written to {args.out}')


if __name__ == '__main__':
    main()
