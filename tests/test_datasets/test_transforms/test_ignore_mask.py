"""BottomupGetIgnoreMask masks crowd (RLE) and keypoint-less people."""
from pathlib import Path

import cv2
import numpy as np
import pytest
from mmpose.datasets.transforms import BottomupGetHeatmapMask
from mmpose.registry import DATASETS, TRANSFORMS
from pycocotools.coco import COCO

from posekit_plugins.datasets.transforms import BottomupGetIgnoreMask

COCO_MINI = Path(__file__).parents[3] / 'data' / 'coco_mini'
ANN = COCO_MINI / 'annotations' / 'person_keypoints_train2017.json'


def _dataset(pipeline):
    return DATASETS.build(dict(
        type='CocoDataset',
        data_root=str(COCO_MINI),
        data_mode='bottomup',
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=pipeline))


def _reference_ignore(coco: COCO, img_id: int) -> np.ndarray:
    """pycocotools: union of the crowd and keypoint-less people's masks."""
    info = coco.loadImgs(img_id)[0]
    m = np.zeros((info['height'], info['width']), np.uint8)
    for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
        if ann['iscrowd'] or ann['num_keypoints'] == 0:
            m |= coco.annToMask(ann).astype(np.uint8)
    return m


def test_mask_covers_crowd_rle_and_unlabelled_people():
    coco = COCO(str(ANN))
    ds = _dataset([])
    crowd_imgs = {a['image_id'] for a in coco.loadAnns(coco.getAnnIds())
                  if a['iscrowd']}
    checked = 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        if info['img_id'] not in crowd_imgs:
            continue
        h, w = coco.loadImgs(info['img_id'])[0]['height'], \
            coco.loadImgs(info['img_id'])[0]['width']
        results = dict(img_shape=(h, w), input_size=(w, h),
                       invalid_segs=info['invalid_segs'])
        ours = BottomupGetIgnoreMask().transform(dict(results))['heatmap_mask']
        ref_valid = _reference_ignore(coco, info['img_id']) == 0
        np.testing.assert_array_equal(ours, ref_valid)
        # mmpose's transform skips the RLE crowd regions: trains them as
        # background
        theirs = BottomupGetHeatmapMask().transform(
            dict(results))['heatmap_mask']
        crowd = np.zeros((h, w), bool)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=info['img_id'])):
            if ann['iscrowd']:
                crowd |= coco.annToMask(ann).astype(bool)
        assert crowd.sum() > 100
        assert not ours[crowd].any()
        assert theirs[crowd].mean() > 0.9
        checked += 1
    assert checked >= 3


def test_compressed_rle_and_no_segs():
    coco = COCO(str(ANN))
    crowd = next(a for a in coco.loadAnns(coco.getAnnIds()) if a['iscrowd'])
    h, w = crowd['segmentation']['size']
    import pycocotools.mask as pm
    compressed = pm.frPyObjects(crowd['segmentation'], h, w)
    compressed['counts'] = compressed['counts'].decode()  # as in json files
    t = BottomupGetIgnoreMask()
    m1 = t.transform(dict(img_shape=(h, w), input_size=(w, h),
                          invalid_segs=[crowd['segmentation']]))
    m2 = t.transform(dict(img_shape=(h, w), input_size=(w, h),
                          invalid_segs=[compressed]))
    np.testing.assert_array_equal(m1['heatmap_mask'], m2['heatmap_mask'])
    assert (~m1['heatmap_mask']).sum() == coco.annToMask(crowd).sum()
    empty = t.transform(dict(img_shape=(h, w), input_size=(w, h)))
    assert empty['heatmap_mask'].all()
    # a person without outline (CrowdPose-style) masks nothing; the others
    # still do
    m3 = t.transform(dict(img_shape=(h, w), input_size=(w, h),
                          invalid_segs=[None, compressed]))
    np.testing.assert_array_equal(m3['heatmap_mask'], m1['heatmap_mask'])
    with pytest.raises(ValueError, match='size'):
        t.transform(dict(img_shape=(h + 1, w), input_size=(w, h),
                         invalid_segs=[crowd['segmentation']]))


def test_pipeline_warps_and_resizes_to_heatmaps():
    """After an affine and the target generation, the mask is the image-space
    mask warped to the input and resized to the heatmaps (as mmpose does for
    polygons)."""
    codec = dict(type='AssociativeEmbeddingDARK', input_size=(256, 256),
                 heatmap_size=(64, 64), sigma=1,
                 decode_keypoint_order=list(range(17)))
    pipeline = [
        dict(type='LoadImage'),
        dict(type='BottomupRandomAffine', input_size=(256, 256),
             shift_prob=0, scale_prob=0, rotate_prob=0, scale_type='long'),
        dict(type='GenerateTarget', encoder=codec),
    ]
    ds = _dataset(pipeline)
    coco = COCO(str(ANN))
    crowd_imgs = {a['image_id'] for a in coco.loadAnns(coco.getAnnIds())
                  if a['iscrowd']}
    idx = next(i for i in range(len(ds))
               if ds.get_data_info(i)['img_id'] in crowd_imgs)
    results = ds[idx]
    out = TRANSFORMS.build(dict(type='BottomupGetIgnoreMask'))(dict(results))
    mask = out['heatmap_mask']
    assert mask.shape == (64, 64) and mask.dtype == bool
    valid = (_reference_ignore(coco, results['img_id']) == 0).astype(
        np.float32)
    warped = cv2.warpAffine(valid, results['warp_mat'], (256, 256),
                            flags=cv2.INTER_LINEAR)
    ref = cv2.resize(warped, (64, 64), interpolation=cv2.INTER_LINEAR) > 0.5
    assert (mask == ref).mean() > 0.995
    assert (~mask).sum() > 20
