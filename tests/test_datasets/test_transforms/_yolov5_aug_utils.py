"""Shared helpers of the YOLOv5 augmentation tests: the fixtures of
``tools/make_aug_fixtures.py`` and our transforms fed the same draws."""
import json
from pathlib import Path

import numpy as np
from mmpose.datasets.transforms import LoadImage

from posekit_plugins.datasets.transforms import (
    YOLOv5HSVRandomAug,
    YOLOv5Mosaic,
    YOLOv5RandomFlip,
    YOLOv5RandomPerspective,
)

ROOT = Path(__file__).parents[3]
COCO_TINY = ROOT / 'data' / 'coco_tiny'
FIXTURES = ROOT / 'tests' / 'data' / 'onestage_aug'
FLIP_INDICES = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
KP_BBOX = 0.05


def load_fixture(original: str, case: str) -> dict:
    with np.load(FIXTURES / f'{original}_{case}.npz') as f:
        fx = {k: f[k] for k in f.files}
    fx['hyp'] = json.loads(str(fx['hyp']))
    return fx


def coco_results(files) -> list:
    """mmpose-style results of the coco_tiny images, annotations taken as
    the originals' label files carry them (the raw COCO box, not clipped)."""
    coco = json.loads((COCO_TINY / 'test_coco.json').read_text())
    by_name = {i['file_name']: i for i in coco['images']}
    out = []
    for name in files:
        img = by_name[str(name)]
        anns = [a for a in coco['annotations']
                if a['image_id'] == img['id'] and not a['iscrowd']]
        res = LoadImage()(dict(img_path=str(COCO_TINY / str(name))))
        n = len(anns)
        bbox = np.array([[a['bbox'][0], a['bbox'][1],
                          a['bbox'][0] + a['bbox'][2],
                          a['bbox'][1] + a['bbox'][3]] for a in anns],
                        np.float32).reshape(n, 4)
        kp = np.array([a['keypoints'] for a in anns],
                      np.float32).reshape(n, 17, 3)
        res.update(
            bbox=bbox,
            keypoints=kp[..., :2].copy(),
            keypoints_visible=np.minimum(kp[..., 2], 1),
            area=np.array([a['area'] for a in anns], np.float32),
            bbox_score=np.ones(n, np.float32),
            category_id=[1] * n,
            id=[a['id'] for a in anns],
            flip_indices=list(FLIP_INDICES))
        out.append(res)
    return out


def perspective_params(uniform) -> dict:
    keys = ('perspective_x', 'perspective_y', 'angle', 'scale', 'shear_x',
            'shear_y', 'translate_x', 'translate_y')
    return dict(zip(keys, (float(v) for v in uniform[2:10])))


def run_ours(fx: dict, keypoint_rule: str):
    """Our mosaic + perspective, then HSV + flip, with the fixture's draws.

    Returns:
        (after perspective, after HSV and flip) results dicts.
    """
    s, hyp = int(fx['img_size']), fx['hyp']
    items = coco_results(fx['files'])
    order = [int(fx['index'])] + [int(i) for i in fx['choices']]
    uniform = fx['uniform']
    mosaic = YOLOv5Mosaic(img_scale=s)
    res = mosaic.mosaic([dict(items[i]) for i in order],
                        center=(int(uniform[1]), int(uniform[0])))
    persp = YOLOv5RandomPerspective(
        input_size=s, degrees=hyp['degrees'], translate=hyp['translate'],
        scale=hyp['scale'], shear=hyp['shear'],
        perspective=hyp['perspective'], keypoint_rule=keypoint_rule)
    res = persp.apply(res, perspective_params(uniform))
    warped = {k: (v.copy() if isinstance(v, np.ndarray) else v)
              for k, v in res.items()}
    gains = fx['hsv_u'] * [hyp['hsv_h'], hyp['hsv_s'], hyp['hsv_v']] + 1
    res = YOLOv5HSVRandomAug.apply(res, gains)
    res = YOLOv5RandomFlip.apply(res, bool(fx['random'][3] < hyp['fliplr']))
    return warped, res


def head_keypoint_objects(kpts, vis, w, h, kp_bbox=KP_BBOX):
    """What ``KAPAOHead._get_targets_single`` builds from augmented
    keypoints (numpy restatement for the comparison): (M,) classes k + 1,
    (M, 4) xyxy boxes of side ``kp_bbox * max(w, h)`` centred on visible
    keypoints inside ``[0, w) x [0, h)``."""
    k = kpts.shape[1]
    xy = kpts.reshape(-1, 2)
    inside = (vis.reshape(-1) > 0) & (xy[:, 0] >= 0) & (xy[:, 0] < w) & (
        xy[:, 1] >= 0) & (xy[:, 1] < h)
    flat = np.flatnonzero(inside)
    half = 0.5 * kp_bbox * max(w, h)
    boxes = np.concatenate([xy[flat] - half, xy[flat] + half], axis=1)
    return flat % k + 1, boxes
