"""Make the tiny CrowdPose-format fixture ``data/crowdpose_tiny`` from the
shipped COCO subset ``data/coco_tiny`` (same 4 images, same persons).

CrowdPose (arXiv 1812.00324) labels 14 keypoints, in this order: left/right
shoulder, elbow, wrist, hip, knee, ankle (each pair left first), then head
top and neck. The 12 limb keypoints are COCO's, copied with their
visibility flags. COCO has no head top and no neck, so both are derived
(not annotated), as stated in the fixture's README:

- neck = midpoint of the two shoulders, when both are labelled (visibility
  = the smaller of the two flags);
- head top = c + 0.5 * (c - neck), with c the mean of the labelled face
  points (nose, eyes, ears): the face centre moved away from the neck by
  half the neck-to-face distance (on an upright adult the eyes are about
  halfway between the shoulder line and the crown). Needs a neck and at
  least one face point; visibility = the smallest flag used. A derived
  point outside its image is left unlabelled (0, 0, 0).

Each image gets CrowdPose's ``crowdIndex`` (its definition, paper Sec. 3):
the mean over the image's persons with labelled keypoints of
``N_b(i) / N_a(i)``, where ``N_a(i)`` counts person i's labelled keypoints
and ``N_b(i)`` the labelled keypoints of the *other* persons that lie inside
person i's box.

Usage: ``python tools/make_crowdpose_tiny.py [--src data/coco_tiny/test_coco.json]
[--out data/crowdpose_tiny/crowdpose_tiny.json]``. The output is
deterministic; the images stay in ``data/coco_tiny`` (the configs read them
through ``data_prefix``).
"""
import argparse
import json
import os.path as osp
from typing import List, Optional

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

CROWDPOSE_KEYPOINTS = [
    'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
    'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
    'right_knee', 'left_ankle', 'right_ankle', 'top_head', 'neck'
]
# CrowdPose's own skeleton (1-based, as in its annotation files)
CROWDPOSE_SKELETON = [[13, 14], [14, 1], [14, 2], [1, 3], [3, 5], [2, 4],
                      [4, 6], [1, 7], [2, 8], [7, 8], [7, 9], [9, 11],
                      [8, 10], [10, 12]]
COCO_FACE = [0, 1, 2, 3, 4]  # nose, eyes, ears
COCO_LIMBS = list(range(5, 17))  # shoulders .. ankles, CrowdPose's order
HEAD_TOP_FACTOR = 0.5


def coco_to_crowdpose(kpts: List[float], width: int,
                      height: int) -> np.ndarray:
    """(14, 3) CrowdPose keypoints (x, y, visibility) from 51 COCO values."""
    coco = np.asarray(kpts, dtype=np.float64).reshape(17, 3)
    out = np.zeros((14, 3))
    out[:12] = coco[COCO_LIMBS]
    ls, rs = coco[5], coco[6]
    if ls[2] > 0 and rs[2] > 0:
        out[13] = [(ls[0] + rs[0]) / 2, (ls[1] + rs[1]) / 2, min(ls[2], rs[2])]
        face = coco[COCO_FACE]
        face = face[face[:, 2] > 0]
        if len(face):
            c = face[:, :2].mean(0)
            top = c + HEAD_TOP_FACTOR * (c - out[13, :2])
            vis = min(face[:, 2].min(), out[13, 2])
            if 0 <= top[0] <= width and 0 <= top[1] <= height:
                out[12] = [top[0], top[1], vis]
    return out


def crowd_index(people: List[np.ndarray],
                boxes: List[List[float]]) -> float:
    """CrowdPose's crowd index of one image (0 without labelled persons)."""
    ratios = []
    for i, (kpt, (x, y, w, h)) in enumerate(zip(people, boxes)):
        n_a = int((kpt[:, 2] > 0).sum())
        if n_a == 0:
            continue
        n_b = 0
        for j, other in enumerate(people):
            if j == i:
                continue
            lab = other[other[:, 2] > 0]
            n_b += int(((lab[:, 0] >= x) & (lab[:, 0] <= x + w) &
                        (lab[:, 1] >= y) & (lab[:, 1] <= y + h)).sum())
        ratios.append(n_b / n_a)
    return float(np.mean(ratios)) if ratios else 0.0


def convert(coco: dict) -> dict:
    images = {img['id']: img for img in coco['images']}
    anns, per_image = [], {i: ([], []) for i in images}
    for ann in coco['annotations']:
        img = images[ann['image_id']]
        kpt = coco_to_crowdpose(ann['keypoints'], img['width'], img['height'])
        rounded = [round(float(v), 2) for v in kpt.reshape(-1)]
        new = dict(
            id=ann['id'],
            image_id=ann['image_id'],
            category_id=1,
            iscrowd=ann['iscrowd'],
            bbox=ann['bbox'],
            area=ann['area'],
            num_keypoints=int((kpt[:, 2] > 0).sum()),
            keypoints=rounded)
        anns.append(new)
        per_image[ann['image_id']][0].append(kpt)
        per_image[ann['image_id']][1].append(ann['bbox'])
    out_images = []
    for i, img in sorted(images.items()):
        out_images.append(dict(
            id=i,
            file_name=img['file_name'],
            width=img['width'],
            height=img['height'],
            crowdIndex=round(crowd_index(*per_image[i]), 4)))
    return dict(
        info=dict(description='CrowdPose-format fixture derived from '
                  'data/coco_tiny by tools/make_crowdpose_tiny.py; limb '
                  'keypoints are COCO annotations, head top and neck are '
                  'derived, not annotated.'),
        licenses=coco.get('licenses', []),
        categories=[dict(supercategory='person', id=1, name='person',
                         keypoints=CROWDPOSE_KEYPOINTS,
                         skeleton=CROWDPOSE_SKELETON)],
        images=out_images,
        annotations=anns)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--src', default=osp.join(REPO, 'data/coco_tiny/test_coco.json'))
    parser.add_argument(
        '--out',
        default=osp.join(REPO, 'data/crowdpose_tiny/crowdpose_tiny.json'))
    args = parser.parse_args(argv)
    with open(args.src) as f:
        out = convert(json.load(f))
    with open(args.out, 'w') as f:
        json.dump(out, f, indent=1)
        f.write('\n')
    n = sum(a['num_keypoints'] > 0 for a in out['annotations'])
    print(f'{args.out}: {len(out["images"])} images, '
          f'{len(out["annotations"])} persons ({n} with keypoints), crowd '
          f'index {[i["crowdIndex"] for i in out["images"]]}')


if __name__ == '__main__':
    main()
