"""Make reference data for the YOLOv5 training augmentation from the originals.

YOLO-Pose (TexasInstruments edgeai-yolov5, branch ``yolo-pose``) and KAPAO
(wmcnally/kapao) are GPL-3.0 and not part of this repository: this script
imports their code from checkouts given by path (one subprocess per
checkout, as ``tools/make_onestage_fixtures.py``), calls it and saves what
it returns; none of their code is copied here.

For each case it builds the original's dataset object around the four
images of ``data/coco_tiny`` and their labels, written from
``test_coco.json`` in the original's own label format (YOLO-Pose: class,
normalised box, 17 normalised ``x y`` with unlabelled points at 0; KAPAO:
what its ``utils/labels.py`` writes, pose objects and keypoint objects),
and calls, with the random draws replaced by recorded values:

1. ``load_mosaic(dataset, index)``: the mosaic and ``random_perspective``
   (image and labels in pixels);
2. ``dataset[index]`` (``LoadImagesAndLabels.__getitem__``): the same plus
   ``augment_hsv`` and the left-right flip (image RGB CHW, normalised
   labels).

Python's ``random.uniform(a, b)`` returns ``a + (b - a) * u`` with ``u``
from the case's list (in call order: mosaic centre y, x, perspective x, y,
angle, scale, shear x, y, translate x, y), ``random.choices`` the case's
three extra indices, ``random.random`` the case's values (mosaic, mixup,
flip up-down, flip left-right), ``np.random.uniform(-1, 1, 3)`` the case's
HSV values. The values the originals actually got are saved next to their
outputs, in ``tests/data/onestage_aug/<original>_<case>.npz``, at
``img_size=128`` (PNG-sized fixtures). KAPAO's optional Albumentations
(commented out in its requirements) is replaced by the identity.

Usage::

    python tools/make_aug_fixtures.py --yolopose /tmp/orig/yolopose \\
        --kapao /tmp/orig/kapao --deps /tmp/origdeps

``--kp-stats N`` instead compares, over N random mosaics of
``data/coco_mini`` at ``--stats-size`` (640) with KAPAO's hyp, KAPAO's own
keypoint objects after ``random_perspective`` with those KAPAOHead builds
from our augmented keypoints (same draws), and prints the counts; nothing
is written to ``tests/data``::

    python tools/make_aug_fixtures.py --kapao /tmp/orig/kapao \\
        --deps /tmp/origdeps --kp-stats 300
"""
import argparse
import json
import os
import os.path as osp
import random
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
COCO_TINY = osp.join(ROOT, 'data', 'coco_tiny')
ANN = osp.join(COCO_TINY, 'test_coco.json')
IMG_SIZE = 128
STATS_ANN = osp.join(ROOT, 'data', 'coco_mini', 'annotations',
                     'person_keypoints_train2017.json')
STATS_IMGS = osp.join(ROOT, 'data', 'coco_mini', 'train2017')
FLIP_INDEX = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
KP_BBOX = 0.05  # KAPAO data/coco-kp.yaml

# hyper-parameters: data/hyp.scratch.yaml (YOLO-Pose),
# data/hyps/hyp.kp-p6.yaml (KAPAO); 'wild' also exercises rotation, shear
# and perspective (both originals' code supports them, their hyps set 0)
HYP = dict(
    yolopose=dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0,
                  translate=0.1, scale=0.5, shear=0.0, perspective=0.0,
                  flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=0.0),
    kapao=dict(hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0,
               translate=0.1, scale=0.9, shear=0.0, perspective=0.0,
               flipud=0.0, fliplr=0.5, mosaic=1.0, mixup=0.0,
               copy_paste=0.0))
WILD = dict(degrees=10.0, shear=5.0, perspective=0.0005)

# index, extra indices, uniform fractions (yc, xc, px, py, angle, scale,
# shear x, shear y, tx, ty), random() values (mosaic, mixup, flipud,
# fliplr), HSV uniform(-1, 1, 3) values, hyp overrides
CASES = dict(
    zoom_out=dict(index=0, choices=[1, 2, 3],
                  u=[0.3, 0.7, 0.5, 0.5, 0.5, 0.1, 0.5, 0.5, 0.2, 0.8],
                  rand=[0.0, 0.9, 0.9, 0.1], hsv=[0.9, -0.8, 0.7]),
    zoom_in=dict(index=2, choices=[3, 1, 0],
                 u=[0.55, 0.45, 0.5, 0.5, 0.5, 0.85, 0.5, 0.5, 0.7, 0.35],
                 rand=[0.0, 0.9, 0.9, 0.9], hsv=[-0.95, 0.6, -0.5]),
    edges=dict(index=1, choices=[0, 3, 2],
               u=[0.05, 0.95, 0.5, 0.5, 0.5, 0.02, 0.5, 0.5, 0.5, 0.5],
               rand=[0.0, 0.9, 0.9, 0.2], hsv=[0.2, 0.95, -0.9]),
    wild=dict(index=3, choices=[2, 0, 1],
              u=[0.6, 0.4, 0.8, 0.25, 0.9, 0.6, 0.2, 0.7, 0.4, 0.6],
              rand=[0.0, 0.9, 0.9, 0.3], hsv=[-0.3, -0.9, 0.95],
              hyp=WILD),
    # tile 0 cut by the canvas top and left: keypoints clipped to the
    # canvas edge, which the smallest scale brings into the output
    canvas_edge=dict(index=0, choices=[1, 2, 3],
                     u=[0.0, 0.0, 0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 1.0, 1.0],
                     rand=[0.0, 0.9, 0.9, 0.6], hsv=[0.5, 0.5, 0.5]),
)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--yolopose', help='checkout of edgeai-yolov5 (yolo-pose)')
    parser.add_argument('--kapao', help='checkout of wmcnally/kapao')
    parser.add_argument('--deps', help="extra folder put on the originals' "
                        'path (seaborn)')
    parser.add_argument('--out', default=osp.join(ROOT, 'tests', 'data',
                                                  'onestage_aug'))
    parser.add_argument('--kp-stats', type=int, default=0,
                        help='compare keypoint objects over N mosaics')
    parser.add_argument('--stats-size', type=int, default=640)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--worker', choices=('yolopose', 'kapao'),
                        help=argparse.SUPPRESS)
    parser.add_argument('--repo', help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        return run_worker(args)
    if not (args.yolopose or args.kapao):
        raise SystemExit('give --yolopose and/or --kapao')
    if args.kp_stats:
        return kp_stats_main(args)
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    for name in ('yolopose', 'kapao'):
        repo = getattr(args, name)
        if not repo:
            continue
        cmd = [sys.executable, osp.abspath(__file__), '--worker', name,
               '--repo', osp.abspath(repo), '--out', out]
        if args.deps:
            cmd += ['--deps', osp.abspath(args.deps)]
        print(f'== {name}: {repo}', flush=True)
        subprocess.run(cmd, check=True)
    total = 0
    for f in sorted(os.listdir(out)):
        size = osp.getsize(osp.join(out, f))
        total += size
        print(f'  {f:32s} {size / 1024:8.1f} KiB')
    print(f'  {"total":32s} {total / 1024:8.1f} KiB')


def kp_stats_main(args):
    """Run :func:`kp_stats_worker` in KAPAO's checkout, then our transforms
    on the same draws, and compare the keypoint objects."""
    import tempfile

    import numpy as np
    if not args.kapao:
        raise SystemExit('--kp-stats needs --kapao')
    with tempfile.TemporaryDirectory() as tmp:
        out = osp.join(tmp, 'kp_stats.npz')
        cmd = [sys.executable, osp.abspath(__file__), '--worker', 'kapao',
               '--repo', osp.abspath(args.kapao), '--out', out, '--kp-stats',
               str(args.kp_stats), '--stats-size', str(args.stats_size),
               '--seed', str(args.seed)]
        if args.deps:
            cmd += ['--deps', osp.abspath(args.deps)]
        subprocess.run(cmd, check=True)
        with np.load(out) as f:
            ref, draws = f['labels'], f['draws']
    sys.path.insert(0, ROOT)
    import cv2
    from mmpose.datasets.transforms import LoadImage

    from posekit_plugins.datasets.transforms import (
        YOLOv5Mosaic,
        YOLOv5RandomPerspective,
    )
    s = args.stats_size
    hyp = HYP['kapao']
    items = coco_images(STATS_ANN)
    loaded = []
    for img, anns in items:
        anns = [a for a in anns if not a['iscrowd']]
        n = len(anns)
        res = LoadImage()(dict(img_path=osp.join(STATS_IMGS,
                                                 img['file_name'])))
        kp = np.array([a['keypoints'] for a in anns],
                      np.float32).reshape(n, 17, 3)
        res.update(bbox=np.array(
            [[a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
              a['bbox'][1] + a['bbox'][3]] for a in anns],
            np.float32).reshape(n, 4),
            keypoints=kp[..., :2].copy(),
            keypoints_visible=np.minimum(kp[..., 2], 1))
        loaded.append(res)
    mosaic = YOLOv5Mosaic(img_scale=s)
    persp = YOLOv5RandomPerspective(input_size=s, scale=hyp['scale'],
                                    translate=hyp['translate'])
    keys = ('perspective_x', 'perspective_y', 'angle', 'scale', 'shear_x',
            'shear_y', 'translate_x', 'translate_y')
    side = KP_BBOX * s
    c = dict(orig=0, head=0, exact=0, shifted=0, orig_only=0, head_only=0,
             person_mismatch=0)
    shifts, worst = [], [0.0, 0.0, 0]
    cv2.setNumThreads(1)
    for t, d in enumerate(draws):
        idx = [int(v) for v in d[:4]]
        u = d[4:]
        res = mosaic.mosaic([{k: (v.copy() if isinstance(v, np.ndarray)
                                  else v) for k, v in loaded[i].items()}
                             for i in idx], center=(int(u[1]), int(u[0])))
        res = persp.apply(res, dict(zip(keys, (float(v) for v in u[2:10]))))
        lab = ref[ref[:, 0] == t][:, 1:]
        persons = lab[lab[:, 0] == 0]
        if len(persons) != len(res['bbox']):
            c['person_mismatch'] += 1
        elif len(persons):
            pk = persons[:, 5:].reshape(-1, 17, 3)
            worst[0] = max(worst[0], np.abs(persons[:, 1:5] -
                                             res['bbox']).max())
            worst[1] = max(worst[1], np.abs(pk[..., :2] -
                                             res['keypoints']).max())
            worst[2] += int(((pk[..., 2] > 0) !=
                             (res['keypoints_visible'] > 0)).sum())
        kpts, vis = res['keypoints'], res['keypoints_visible']
        flat = np.flatnonzero((vis.reshape(-1) > 0) & (
            kpts.reshape(-1, 2)[:, 0] >= 0) & (kpts.reshape(-1, 2)[:, 0] < s)
            & (kpts.reshape(-1, 2)[:, 1] >= 0) & (kpts.reshape(-1, 2)[:, 1] < s))
        hcls = flat % 17 + 1
        hctr = kpts.reshape(-1, 2)[flat].astype(np.float64)
        ocls = lab[lab[:, 0] > 0, 0]
        obox = lab[lab[:, 0] > 0, 1:5]
        octr = (obox[:, :2] + obox[:, 2:]) / 2
        c['orig'] += len(ocls)
        c['head'] += len(hcls)
        used = np.zeros(len(hcls), bool)
        for cl, ctr, box in zip(ocls, octr, obox):
            cand = np.flatnonzero((hcls == cl) & ~used)
            if not len(cand):
                c['orig_only'] += 1
                continue
            dist = np.abs(hctr[cand] - ctr).max(1)
            j = cand[np.argmin(dist)]
            if dist.min() < 1e-2 and np.allclose(box[2:] - box[:2],
                                                 [side, side], atol=1e-2):
                c['exact'] += 1
                used[j] = True
            elif dist.min() <= side / 2 + 1e-2:
                c['shifted'] += 1
                shifts.append(dist.min())
                used[j] = True
            else:
                c['orig_only'] += 1
        c['head_only'] += int((~used).sum())
    print(f'{len(draws)} mosaics of data/coco_mini at {s} (KAPAO hyp, '
          f'kp_bbox {KP_BBOX}: side {side:g} px):')
    print(f'  persons: max |box diff| {worst[0]:.2g} px, max |keypoint '
          f'diff| {worst[1]:.2g} px, visibility mismatches {worst[2]}')
    for k, v in c.items():
        print(f'  {k:16s} {v}')
    if shifts:
        print(f'  centre shift of the shifted ones: mean {np.mean(shifts):.2f}'
              f' px, max {np.max(shifts):.2f} px')


# --------------------------------------------------------------------------
# label files in the originals' formats (also used by the benchmark)


def coco_images(ann_file=ANN):
    """``[(image info, [person annotations])]`` sorted by file name."""
    with open(ann_file) as f:
        coco = json.load(f)
    anns = {}
    for a in coco['annotations']:
        anns.setdefault(a['image_id'], []).append(a)
    return [(img, anns.get(img['id'], []))
            for img in sorted(coco['images'], key=lambda i: i['file_name'])]


def yolopose_rows(img, anns, visibility=False, min_keypoints=0):
    """YOLO-Pose label rows after its cache step: class, normalised xywh,
    17 normalised ``x y`` (0 0 where not labelled); non-crowd persons with
    at least ``min_keypoints`` labelled keypoints. ``visibility=True``: the
    txt file's layout, ``x y v`` per keypoint (its loader drops ``v``)."""
    w, h = img['width'], img['height']
    rows = []
    for a in anns:
        if a.get('iscrowd') or a['num_keypoints'] < min_keypoints:
            continue
        x, y, bw, bh = a['bbox']
        row = [0, (x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
        kp = a['keypoints']
        for i in range(0, len(kp), 3):
            lab = kp[i + 2] > 0
            row += [kp[i] / w if lab else 0.0, kp[i + 1] / h if lab else 0.0]
            if visibility:
                row.append(float(kp[i + 2]))
        rows.append(row)
    return rows


def kapao_rows(img, anns, kp_bbox=KP_BBOX):
    """The rows KAPAO's ``utils/labels.py`` writes for a train image."""
    w, h = img['width'], img['height']
    rows = []
    for a in anns:
        if a.get('iscrowd'):
            continue
        x, y, bw, bh = a['bbox']
        kp = a['keypoints']
        row = [0, (x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
        for i in range(0, len(kp), 3):
            row += [kp[i] / w, kp[i + 1] / h, kp[i + 2]]
        rows.append(row)
        for i in range(0, len(kp), 3):
            if kp[i + 2]:
                rows.append([i // 3 + 1, kp[i] / w, kp[i + 1] / h,
                             kp_bbox * max(h, w) / w,
                             kp_bbox * max(h, w) / h] + [0.0] * 51)
    return rows


def write_label_txt(rows, path):
    """One label file as the originals read it."""
    with open(path, 'w') as f:
        for r in rows:
            f.write(' '.join(f'{v:g}' if i == 0 else f'{v:.6f}'
                             for i, v in enumerate(r)) + '\n')


# --------------------------------------------------------------------------
# worker: runs with one original checkout first on sys.path


class Draws:
    """Replace the random calls of the originals with recorded values."""

    def __init__(self, case):
        self.case = case
        self.reset()

    def reset(self):
        self.u = list(self.case['u'])
        self.rand = list(self.case['rand'])
        self.got = dict(uniform=[], choices=[], random=[], hsv=[])

    def uniform(self, a, b):
        value = a + (b - a) * self.u.pop(0)
        self.got['uniform'].append(value)
        return value

    def choices(self, population, k=1, **kw):
        assert k == 3, k
        self.got['choices'].append(list(self.case['choices']))
        return [population[i] for i in self.case['choices']]

    def random(self):
        value = self.rand.pop(0)
        self.got['random'].append(value)
        return value

    def np_uniform(self, low=0.0, high=1.0, size=None):
        import numpy as np
        assert (low, high, size) == (-1, 1, 3), (low, high, size)
        value = np.array(self.case['hsv'], dtype=np.float64)
        self.got['hsv'].append(value.tolist())
        return value


def run_worker(args):
    here = osp.dirname(osp.abspath(__file__))
    sys.path[:] = [p for p in sys.path if osp.abspath(p or '.') != here]
    sys.path.insert(0, args.repo)
    if args.deps:
        sys.path.insert(1, args.deps)
    if args.worker == 'kapao':
        font = osp.join(args.repo, 'Arial.ttf')
        if not osp.exists(font):
            import shutil

            import matplotlib
            shutil.copyfile(
                osp.join(matplotlib.get_data_path(), 'fonts', 'ttf',
                         'DejaVuSans.ttf'), font)
    import numpy as np
    import utils.datasets as D
    if not hasattr(np, 'int'):
        np.int = int  # the originals use the removed alias
    if args.kp_stats:
        return kp_stats_worker(args, D)
    items = coco_images()
    for name, case in CASES.items():
        hyp = dict(HYP[args.worker], **case.get('hyp', {}))
        ds = make_dataset(args.worker, D, items, hyp)
        draws = Draws(case)
        saved = (random.uniform, random.choices, random.random,
                 np.random.uniform)
        random.uniform, random.choices, random.random = (
            draws.uniform, draws.choices, draws.random)
        np.random.uniform = draws.np_uniform
        try:
            draws.rand = []  # load_mosaic draws no random()
            img4, labels4 = D.load_mosaic(ds, case['index'], **(
                dict(kp_bbox=KP_BBOX) if args.worker == 'kapao' else {}))
            got_mosaic = draws.got
            draws.reset()
            img, labels, _, _ = ds[case['index']]
            got_item = draws.got
        finally:
            (random.uniform, random.choices, random.random,
             np.random.uniform) = saved
        assert got_mosaic['uniform'] == got_item['uniform']
        out = osp.join(args.out, f'{args.worker}_{name}.npz')
        np.savez_compressed(
            out,
            img_size=IMG_SIZE,
            files=np.array([it[0]['file_name'] for it in items]),
            index=case['index'],
            choices=np.array(case['choices']),
            uniform=np.array(got_item['uniform']),
            random=np.array(got_item['random']),
            hsv_u=np.array(got_item['hsv'][0]),
            hyp=json.dumps(hyp),
            mosaic_img=img4,
            mosaic_labels=labels4.astype(np.float64),
            item_img=img.numpy(),
            item_labels=labels.numpy().astype(np.float64))
        print(f'{out}: {len(labels4)} objects after the mosaic, '
              f'{len(labels)} in the item')


def kp_stats_worker(args, D):
    """KAPAO's load_mosaic on random draws over coco_mini; saves the draws
    and the labels it returns."""
    import numpy as np
    items = coco_images(STATS_ANN)
    ds = make_dataset('kapao', D, items, HYP['kapao'], STATS_IMGS,
                      args.stats_size)
    rng = np.random.RandomState(args.seed)
    rows, draws = [], []
    saved = (random.uniform, random.choices)
    try:
        for t in range(args.kp_stats):
            case = dict(u=rng.uniform(size=10).tolist(),
                        choices=rng.randint(0, len(items), 3).tolist(),
                        rand=[], hsv=[0, 0, 0])
            d = Draws(case)
            random.uniform, random.choices = d.uniform, d.choices
            _, labels = D.load_mosaic(ds, t % len(items), kp_bbox=KP_BBOX)
            rows.append(np.concatenate(
                [np.full((len(labels), 1), t), labels], axis=1))
            draws.append([t % len(items)] + case['choices'] +
                         d.got['uniform'])
    finally:
        random.uniform, random.choices = saved
    np.savez_compressed(args.out, labels=np.concatenate(rows),
                        draws=np.array(draws),
                        files=np.array([it[0]['file_name'] for it in items]))


def make_dataset(worker, D, items, hyp, img_dir=COCO_TINY, size=IMG_SIZE):
    """The original's ``LoadImagesAndLabels`` with the coco_tiny labels
    (``__init__`` is bypassed: it needs label files and a cache)."""
    import numpy as np
    ds = object.__new__(D.LoadImagesAndLabels)
    n = len(items)
    ds.img_size, ds.augment, ds.hyp, ds.rect = size, True, hyp, False
    ds.mosaic, ds.image_weights = True, False
    ds.mosaic_border = [-size // 2, -size // 2]
    ds.indices, ds.n, ds.stride = range(n), n, 32
    ds.img_files = [osp.join(img_dir, it[0]['file_name']) for it in items]
    ds.imgs = [None] * n
    ds.segments = [[] for _ in range(n)]
    if worker == 'yolopose':
        ds.kpt_label, ds.tidl_load = True, False
        ds.flip_index = list(FLIP_INDEX)
        ds.labels = [np.array(yolopose_rows(*it), np.float32).reshape(-1, 39)
                     for it in items]
    else:
        ds.img_npy = [None] * n
        ds.kp_flip, ds.kp_bbox = list(FLIP_INDEX), KP_BBOX
        ds.num_coords = 34
        ds.obj_flip = {0: 0, **{i + 1: FLIP_INDEX[i] + 1 for i in range(17)}}
        ds.albumentations = lambda im, labels: (im, labels)
        ds.labels = [np.array(kapao_rows(*it), np.float32).reshape(-1, 56)
                     for it in items]
    return ds


if __name__ == '__main__':
    main()
