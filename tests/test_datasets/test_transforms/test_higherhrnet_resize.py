"""HigherHRNetResizeAlign: the original HigherHRNet / SWAHR test resize
(``resize_align_multi_scale`` at scale 1), checked against the resized
images the original produced (``tests/data/swahr/orig_test.npz``) and the
original's ``get_final_preds`` map (``HigherHRNetParser.to_original``)."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest
from mmpose.registry import TRANSFORMS

from posekit_plugins.codecs import HigherHRNetParser
from posekit_plugins.datasets import HigherHRNetResizeAlign
from tests.conftest import COCO_TINY, REPO

DATA = REPO / 'tests' / 'data' / 'swahr'


def to_image(keypoints, results):
    """mmpose's BottomupPoseEstimator.add_pred_to_datasample map."""
    size = np.asarray(results['input_size'], np.float64)
    scale = np.asarray(results['input_scale'], np.float64)
    center = np.asarray(results['input_center'], np.float64)
    return keypoints / size * scale + center - 0.5 * scale


@pytest.mark.parametrize(
    'wh, input_size, size, center, scale',
    [
        ((640, 425), 64, (128, 64), (320, 213), (4.25, 2.125)),
        ((425, 640), 64, (64, 128), (213, 320), (2.125, 4.25)),
        # 512 / 333 * 500 = 768.8: the original's (v + 63) // 64 * 64 on the
        # float gives 768, not 832
        ((500, 333), 512, (768, 512), (250, 167), (768 / 512 * 1.665, 1.665)),
        ((333, 500), 512, (512, 768), (167, 250), (1.665, 768 / 512 * 1.665)),
        ((500, 320), 64, (128, 64), (250, 160), (2 * 1.6, 1.6)),
        # short side rounded up to 64 first, long side up to a multiple of 64
        ((300, 300), 500, (512, 512), (150, 150), (1.5, 1.5)),
        ((641, 64), 64, (704, 64), (321, 32), (704 / 64 * 0.32, 0.32)),
    ])
def test_size_center_scale(wh, input_size, size, center, scale):
    t = HigherHRNetResizeAlign(input_size=input_size)
    s, c, sc = t.get_size_center_scale(*wh)
    assert s == size
    np.testing.assert_array_equal(c, center)
    np.testing.assert_allclose(sc, scale, rtol=1e-12)
    img = np.full((wh[1], wh[0], 3), 7, np.uint8)
    res = t.transform(dict(img=img))
    assert res['img'].shape == (size[1], size[0], 3)
    assert res['img_shape'] == (size[1], size[0])
    assert tuple(res['input_size']) == size
    np.testing.assert_allclose(res['input_scale'], np.asarray(scale) * 200,
                               rtol=1e-6)
    # aspect ratio kept: the same pixel size along x and y
    np.testing.assert_allclose(res['input_scale'][0] / size[0],
                               res['input_scale'][1] / size[1], rtol=1e-6)


def test_images_equal_original():
    z = np.load(DATA / 'orig_test.npz')
    with open(DATA / 'orig_test.json') as f:
        meta = json.load(f)
    t = HigherHRNetResizeAlign(input_size=meta['settings']['input_size'])
    for i, rec in enumerate(meta['images']):
        img = cv2.imread(osp.join(COCO_TINY, rec['file']))  # BGR
        res = t.transform(dict(img=img))
        # the original resizes the RGB image; the warp is per channel
        np.testing.assert_array_equal(res['img'][..., ::-1], z[f'img{i}'])
        assert list(res['input_size']) == rec['base_size']
        np.testing.assert_array_equal(res['input_center'], rec['center'])
        np.testing.assert_allclose(res['input_scale'],
                                   np.asarray(rec['scale']) * 200, rtol=1e-6)
        # the estimator's map back to the image equals get_final_preds'
        rng = np.random.RandomState(i)
        pts = rng.uniform(-5, 140, size=(6, 17, 2))
        np.testing.assert_allclose(
            to_image(pts, res),
            HigherHRNetParser.to_original(pts, rec['center'], rec['scale'],
                                          rec['base_size']),
            atol=1e-3)


def test_warp_and_map_back_are_inverse():
    t = HigherHRNetResizeAlign(input_size=64)
    img = np.zeros((333, 500, 3), np.uint8)
    res = t.transform(dict(img=img))
    (w, h), center, scale = t.get_size_center_scale(500, 333)
    warp = t.warp_matrix(center, scale[0] * 200, (w, h))
    pts = np.array([[0.0, 0.0], [499.0, 332.0], [250.0, 167.0], [17.5, 3.25]])
    inp = pts @ warp[:, :2].T + warp[:, 2]
    np.testing.assert_allclose(to_image(inp, res), pts, atol=1e-3)
    # the image centre goes to the input centre
    np.testing.assert_allclose(inp[2], (w / 2, h / 2), atol=1e-4)


def test_registered_and_options():
    t = TRANSFORMS.build(dict(type='HigherHRNetResizeAlign', input_size=512,
                              float64_meta=True))
    assert isinstance(t, HigherHRNetResizeAlign)
    res = t(dict(img=np.zeros((10, 20, 3), np.uint8)))
    assert res['input_scale'].dtype == np.float64
    assert res['input_center'].dtype == np.float64
    assert 'HigherHRNetResizeAlign(input_size=512' in repr(t)
    with pytest.raises(ValueError):
        HigherHRNetResizeAlign(input_size=0)
