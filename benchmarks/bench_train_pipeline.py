"""Training-data throughput per CPU core: our YOLOv5 pipeline vs the
originals' loaders vs mmpose's bottom-up pipeline.

Each row runs in its own process pinned to one CPU core (``--core``), with
OpenCV and torch limited to one thread, like one data-loader worker on one
core. It loads, augments and packs ``--num`` training samples (after
``--warmup``) at ``--size`` (640) with the mosaic on, from the same images
(``data/coco_mini/train2017`` and its annotation file), and reports
images per second:

- ``ours (YOLO-Pose)`` / ``ours (KAPAO)``: ``ValidatedCocoDataset`` with
  the dataset settings and ``train_pipeline`` documented in
  ``docs/onestage_training.md`` (YOLOv5Mosaic, YOLOv5RandomPerspective,
  YOLOv5HSVRandomAug, YOLOv5RandomFlip, GenerateTarget with
  ``YOLOXPoseAnnotationProcessor``, PackPoseInputs);
- ``mmpose (current config)``: the pipeline of
  ``configs/yolopose_s6_4xb16-300e_coco-640.py`` before this change
  (mmpose's Mosaic, BottomupRandomAffine, YOLOXHSVRandomAug, RandomFlip,
  FilterAnnotations, GenerateTarget, PackPoseInputs);
- ``original YOLO-Pose`` / ``original KAPAO``: the original
  ``LoadImagesAndLabels(augment=True)`` with its ``hyp`` file's values,
  ``__getitem__`` per sample, run from the checkout (``--yolopose``,
  ``--kapao``; GPL-3.0, not part of this repository) on label files written
  in a temporary folder in its format from the same annotation file
  (``tools/make_aug_fixtures.py`` writes them as the originals' label
  tools do; KAPAO's labels include its keypoint objects).

Usage::

    python benchmarks/bench_train_pipeline.py --yolopose /tmp/orig/yolopose \\
        --kapao /tmp/orig/kapao --deps /tmp/origdeps [--num 200] [--size 640]
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DATA = osp.join(ROOT, 'data', 'coco_mini')
ANN = osp.join(DATA, 'annotations', 'person_keypoints_train2017.json')
IMGS = osp.join(DATA, 'train2017')
FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]

HYP = dict(
    yolopose=dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0,
                  translate=0.1, scale=0.5, shear=0.0, perspective=0.0,
                  flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=0.0),
    kapao=dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0,
               translate=0.1, scale=0.9, shear=0.0, perspective=0.0,
               flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=0.0,
               copy_paste=0.0))
FILTER = dict(
    yolopose=dict(keep_empty_images=False, keep_crowd=False,
                  min_keypoints=1),
    kapao=dict(keep_empty_images=True, keep_crowd=False, min_keypoints=0))


def ours_pipeline(kind, size):
    hyp = HYP[kind]
    return [
        dict(type='LoadImage'),
        dict(type='YOLOv5Mosaic', img_scale=size, pad_val=114,
             pre_transform=[dict(type='LoadImage')]),
        dict(type='YOLOv5RandomPerspective', input_size=size,
             degrees=hyp['degrees'], translate=hyp['translate'],
             scale=hyp['scale'], shear=hyp['shear'],
             perspective=hyp['perspective'],
             keypoint_rule='yolopose' if kind == 'yolopose' else 'inside'),
        dict(type='YOLOv5HSVRandomAug', hgain=hyp['hsv_h'],
             sgain=hyp['hsv_s'], vgain=hyp['hsv_v']),
        dict(type='YOLOv5RandomFlip', prob=hyp['fliplr']),
        dict(type='GenerateTarget',
             encoder=dict(type='YOLOXPoseAnnotationProcessor',
                          input_size=(size, size))),
        dict(type='PackPoseInputs'),
    ]


def mmpose_pipeline(size):
    input_size = (size, size)
    return [
        dict(type='LoadImage'),
        dict(type='Mosaic', img_scale=input_size, pad_val=114.0,
             pre_transform=[dict(type='LoadImage')]),
        dict(type='BottomupRandomAffine', input_size=input_size,
             shift_factor=0.1, rotate_factor=0, rotate_prob=0, shear_prob=0,
             scale_factor=(0.5, 1.5), pad_val=114, distribution='uniform',
             transform_mode='perspective', bbox_keep_corner=False,
             clip_border=True),
        dict(type='YOLOXHSVRandomAug'),
        dict(type='RandomFlip'),
        dict(type='FilterAnnotations', by_kpt=True, by_box=True,
             keep_empty=False),
        dict(type='GenerateTarget',
             encoder=dict(type='YOLOXPoseAnnotationProcessor',
                          input_size=input_size)),
        dict(type='PackPoseInputs'),
    ]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--yolopose', help='checkout of edgeai-yolov5 (yolo-pose)')
    p.add_argument('--kapao', help='checkout of wmcnally/kapao')
    p.add_argument('--deps', help="extra folder on the originals' path")
    p.add_argument('--num', type=int, default=200)
    p.add_argument('--warmup', type=int, default=10)
    p.add_argument('--size', type=int, default=640)
    p.add_argument('--core', type=int, default=0)
    p.add_argument('--rounds', type=int, default=3,
                   help='rows run interleaved this many times; the best '
                   'round counts (the least disturbed by other load)')
    p.add_argument('--worker', help=argparse.SUPPRESS)
    p.add_argument('--repo', help=argparse.SUPPRESS)
    p.add_argument('--tmp', help=argparse.SUPPRESS)
    return p.parse_args()


def pin(core):
    if hasattr(os, 'sched_setaffinity'):
        os.sched_setaffinity(0, {core})
    import cv2
    cv2.setNumThreads(1)
    import torch
    torch.set_num_threads(1)


def timed(get, n, warmup):
    for i in range(warmup):
        get(i)
    t0 = time.perf_counter()
    for i in range(n):
        get(i)
    return n / (time.perf_counter() - t0)


def run_ours(args, kind):
    sys.path.insert(0, ROOT)
    import numpy as np
    from mmengine.registry import init_default_scope
    from mmpose.registry import DATASETS

    import posekit_plugins  # noqa: F401
    init_default_scope('mmpose')
    if kind == 'mmpose':
        pipeline, filter_cfg = mmpose_pipeline(args.size), None
    else:
        pipeline, filter_cfg = ours_pipeline(kind, args.size), FILTER[kind]
    ds = DATASETS.build(dict(
        type='ValidatedCocoDataset', data_root=DATA, data_mode='bottomup',
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'), filter_cfg=filter_cfg,
        pipeline=pipeline))
    np.random.seed(0)
    n = len(ds)
    return timed(lambda i: ds[i % n], args.num, args.warmup), n


def write_labels(tmp, kind):
    """Images (symlinks) and label files in the original's layout."""
    sys.path.insert(0, osp.join(ROOT, 'tools'))
    from make_aug_fixtures import (
        coco_images,
        kapao_rows,
        write_label_txt,
        yolopose_rows,
    )
    img_dir = osp.join(tmp, 'images', 'train2017')
    lab_dir = osp.join(tmp, 'labels', 'train2017')
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(lab_dir, exist_ok=True)
    for img, anns in coco_images(ANN):
        os.symlink(osp.join(IMGS, img['file_name']),
                   osp.join(img_dir, img['file_name']))
        if kind == 'yolopose':
            rows = yolopose_rows(img, anns, visibility=True, min_keypoints=1)
            rows = [[min(max(v, 0.0), 1.0) if i else v
                     for i, v in enumerate(r)] for r in rows]
        else:
            rows = kapao_rows(img, anns)
        if rows:  # no file: a background image, for both originals
            write_label_txt(rows, osp.join(lab_dir, img['file_name'][:-4] +
                                           '.txt'))
    return img_dir


def run_original(args, kind):
    sys.path[:] = [p for p in sys.path
                   if osp.abspath(p or '.') != osp.dirname(__file__)]
    sys.path.insert(0, args.repo)
    if args.deps:
        sys.path.insert(1, args.deps)
    import numpy as np
    if not hasattr(np, 'int'):
        np.int = int  # the originals use the removed alias
    if kind == 'kapao' and not osp.exists(osp.join(args.repo, 'Arial.ttf')):
        import shutil

        import matplotlib
        shutil.copyfile(osp.join(matplotlib.get_data_path(), 'fonts', 'ttf',
                                 'DejaVuSans.ttf'),
                        osp.join(args.repo, 'Arial.ttf'))
    import random

    import utils.datasets as D
    img_dir = write_labels(args.tmp, kind)
    if kind == 'yolopose':
        ds = D.LoadImagesAndLabels(img_dir, img_size=args.size,
                                   batch_size=16, augment=True,
                                   hyp=HYP[kind], kpt_label=True)
    else:
        ds = D.LoadImagesAndLabels(img_dir, labels_dir='labels',
                                   img_size=args.size, batch_size=16,
                                   augment=True, hyp=HYP[kind], kp_flip=FLIP,
                                   kp_bbox=0.05)
    random.seed(0)
    np.random.seed(0)
    n = len(ds)
    return timed(lambda i: ds[i % n], args.num, args.warmup), n


def worker(args):
    pin(args.core)
    kind = args.worker
    if kind.startswith('orig-'):
        ips, n = run_original(args, kind[5:])
    else:
        ips, n = run_ours(args, kind)
    print('RESULT ' + json.dumps(dict(images_per_s=ips, dataset_len=n)))


def main():
    args = parse_args()
    if args.worker:
        return worker(args)
    rows = [('ours (YOLO-Pose settings)', 'yolopose', None),
            ('ours (KAPAO settings)', 'kapao', None),
            ('mmpose (current config)', 'mmpose', None)]
    if args.yolopose:
        rows.append(('original YOLO-Pose', 'orig-yolopose', args.yolopose))
    if args.kapao:
        rows.append(('original KAPAO', 'orig-kapao', args.kapao))
    results = {}
    for rnd in range(args.rounds):
        for name, kind, repo in rows:
            with tempfile.TemporaryDirectory() as tmp:
                cmd = [sys.executable, osp.abspath(__file__), '--worker',
                       kind, '--num', str(args.num), '--warmup',
                       str(args.warmup), '--size', str(args.size), '--core',
                       str(args.core), '--tmp', tmp]
                if repo:
                    cmd += ['--repo', osp.abspath(repo)]
                if args.deps:
                    cmd += ['--deps', osp.abspath(args.deps)]
                out = subprocess.run(cmd, capture_output=True, text=True)
            line = [x for x in out.stdout.splitlines()
                    if x.startswith('RESULT ')]
            if out.returncode or not line:
                print(f'{name}: failed\n{out.stderr[-3000:]}',
                      file=sys.stderr)
                continue
            r = json.loads(line[0][7:])
            print(f'round {rnd + 1}: {name}: {r["images_per_s"]:.1f} '
                  'images/s', flush=True)
            if kind not in results or \
                    r['images_per_s'] > results[kind][1]['images_per_s']:
                results[kind] = (name, r)

    def ratio(a, b):
        if a in results and b in results:
            value = results[a][1]['images_per_s'] / \
                results[b][1]['images_per_s']
            return f'{value:.2f}'
        return '-'

    ref = dict(yolopose='orig-yolopose', kapao='orig-kapao',
               mmpose='orig-yolopose')
    ref.update({'orig-yolopose': 'orig-yolopose', 'orig-kapao': 'orig-kapao'})
    print(f'\n{args.num} samples at {args.size}, mosaic on, 1 process on '
          f'core {args.core}, 1 OpenCV/torch thread, best of {args.rounds} '
          'interleaved rounds\n')
    print('| pipeline | images | images/s | vs original | vs mmpose |')
    print('|---|---|---|---|---|')
    for kind, (name, r) in results.items():
        print(f'| {name} | {r["dataset_len"]} | {r["images_per_s"]:.1f} | '
              f'{ratio(kind, ref[kind])} | {ratio(kind, "mmpose")} |')


if __name__ == '__main__':
    main()
