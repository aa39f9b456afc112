"""YOLOv5 augmentation transforms on unusual input: empty annotations,
keypoints outside, degenerate boxes, bad arguments; registry and config
use."""
import numpy as np
import pytest
from mmpose.registry import TRANSFORMS

from posekit_plugins.datasets.transforms import (
    YOLOv5HSVRandomAug,
    YOLOv5Mosaic,
    YOLOv5RandomFlip,
    YOLOv5RandomPerspective,
    box_candidates,
)

IDENTITY = dict(perspective_x=0., perspective_y=0., angle=0., scale=1.,
                shear_x=0., shear_y=0., translate_x=0.5, translate_y=0.5)
K = 3


def _results(n, h=60, w=80, seed=0):
    rng = np.random.RandomState(seed)
    x1 = rng.uniform(0, w / 2, n)
    y1 = rng.uniform(0, h / 2, n)
    bbox = np.stack([x1, y1, x1 + w / 3, y1 + h / 3], 1).astype(np.float32)
    kpts = (bbox[:, None, :2] + 5 + rng.uniform(0, 10, (n, K, 2))).astype(
        np.float32)
    return dict(
        img=rng.randint(0, 256, (h, w, 3)).astype(np.uint8),
        bbox=bbox.reshape(n, 4), keypoints=kpts.reshape(n, K, 2),
        keypoints_visible=np.ones((n, K), np.float32),
        area=np.full(n, 100., np.float32), bbox_score=np.ones(n, np.float32),
        category_id=np.ones(n, np.int64), id=list(range(n)),
        flip_indices=[0, 2, 1])


def test_registered_and_built_from_config():
    for cfg in (dict(type='YOLOv5Mosaic', img_scale=64,
                     pre_transform=[dict(type='LoadImage')]),
                dict(type='YOLOv5RandomPerspective', input_size=64),
                dict(type='YOLOv5HSVRandomAug'),
                dict(type='YOLOv5RandomFlip')):
        t = TRANSFORMS.build(cfg)
        assert type(t).__name__ == cfg['type']
        assert cfg['type'] in repr(t)


def test_mosaic_with_empty_and_full_images():
    m = YOLOv5Mosaic(img_scale=64)
    items = [_results(0), _results(2, seed=1), _results(0), _results(3)]
    out = m.mosaic(items, center=(64, 64))
    assert out['img'].shape == (128, 128, 3)
    assert out['bbox'].shape == (5, 4)
    assert out['keypoints'].shape == (5, K, 2)
    assert out['keypoints_visible'].shape == (5, K)
    assert len(out['id']) == 5 and out['category_id'].shape == (5, )
    assert (out['bbox'] >= 0).all() and (out['bbox'] <= 128).all()
    # all empty: empty arrays of the right shapes
    out = m.mosaic([_results(0) for _ in range(4)], center=(40, 90))
    assert out['bbox'].shape == (0, 4)
    assert out['keypoints'].shape == (0, K, 2)


def test_mosaic_outside_modes():
    r = _results(1)
    r['keypoints'][0, 0] = (-30, 5)  # left of its image
    items = [r, _results(0), _results(0), _results(0)]
    clip = YOLOv5Mosaic(img_scale=64).mosaic(
        [dict(i) for i in items], center=(64, 64))
    # tile 0 (80x60 -> 64x48) ends at the centre: x = -30 * 0.8 + 0 -> 0
    assert clip['keypoints'][0, 0, 0] == 0
    assert clip['keypoints_visible'][0, 0] == 1  # the originals keep it
    inv = YOLOv5Mosaic(img_scale=64, outside='invisible').mosaic(
        [dict(i) for i in items], center=(64, 64))
    assert inv['keypoints_visible'][0, 0] == 0
    assert inv['keypoints'][0, 0, 0] < 0


def test_mosaic_errors():
    with pytest.raises(ValueError, match='img_scale'):
        YOLOv5Mosaic(img_scale=(64, 32))
    with pytest.raises(ValueError, match='outside'):
        YOLOv5Mosaic(outside='drop')
    m = YOLOv5Mosaic(img_scale=64)
    with pytest.raises(ValueError, match='4 images'):
        m.mosaic([_results(1)], center=(64, 64))
    bad = _results(2)
    bad['keypoints_visible'] = bad['keypoints_visible'][:1]
    with pytest.raises(ValueError, match='keypoints_visible'):
        m.mosaic([bad, _results(1), _results(1), _results(1)], (64, 64))
    with pytest.raises(ValueError, match='dataset'):
        m.transform(_results(1))


def test_perspective_identity_and_empty():
    t = YOLOv5RandomPerspective()
    r = _results(3)
    img = r['img'].copy()
    out = t.apply(r, IDENTITY)
    np.testing.assert_array_equal(out['img'], img)  # not warped at all
    assert len(out['bbox']) == 3
    out = YOLOv5RandomPerspective(input_size=32).apply(_results(0), IDENTITY)
    assert out['img'].shape == (32, 32, 3) and out['input_size'] == (32, 32)
    assert out['bbox'].shape == (0, 4)


def test_perspective_drops_degenerate_and_outside():
    r = _results(4)
    r['bbox'][0] = (10, 10, 10, 40)  # zero width
    r['bbox'][1] = (10, 10, 11.5, 40)  # 1.5 px: not > wh_thr
    r['bbox'][2] = (200, 200, 260, 260)  # entirely outside
    out = YOLOv5RandomPerspective().apply(r, IDENTITY)
    assert out['id'] == [3]
    assert out['keypoints'].shape == (1, K, 2)
    assert out['area'].shape == (1, )


def test_perspective_keypoint_rules():
    r = _results(1)
    r['bbox'][0] = (0, 0, 50, 50)
    r['keypoints'][0] = [(-5, 10), (20, 0), (30, 65)]  # left, top, below
    inside = YOLOv5RandomPerspective().apply(
        {k: (v.copy() if isinstance(v, np.ndarray) else v)
         for k, v in r.items()}, IDENTITY)
    np.testing.assert_array_equal(inside['keypoints_visible'], [[0, 1, 0]])
    yp = YOLOv5RandomPerspective(keypoint_rule='yolopose').apply(
        {k: (v.copy() if isinstance(v, np.ndarray) else v)
         for k, v in r.items()}, dict(IDENTITY, translate_y=0.6))
    # y == 0 before the warp stays 0 (visible); the others leave the image
    np.testing.assert_array_equal(yp['keypoints_visible'], [[0, 1, 0]])
    assert yp['keypoints'][0, 1, 1] == 0
    with pytest.raises(ValueError, match='keypoint_rule'):
        YOLOv5RandomPerspective(keypoint_rule='x')
    with pytest.raises(ValueError, match='scale'):
        YOLOv5RandomPerspective(scale=-1)


def test_perspective_needs_boxes_and_an_image():
    r = _results(2)
    r.pop('bbox')
    with pytest.raises(ValueError, match='bbox'):
        YOLOv5RandomPerspective().apply(r, IDENTITY)
    with pytest.raises(ValueError, match='image'):
        YOLOv5RandomPerspective().apply(dict(img=np.zeros((0, 0, 3))),
                                        IDENTITY)


def test_perspective_random_draws_in_range():
    t = YOLOv5RandomPerspective(input_size=64, scale=0.9, translate=0.1)
    np.random.seed(0)
    for _ in range(20):
        p = t.get_params()
        assert 0.1 <= p['scale'] <= 1.9
        assert 0.4 <= p['translate_x'] <= 0.6
        assert p['angle'] == 0 and p['perspective_x'] == 0
        out = t.transform(_results(3))
        assert out['img'].shape == (64, 64, 3)
        assert (out['bbox'] >= 0).all() and (out['bbox'] <= 64).all()


def test_box_candidates():
    before = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [0, 0, 100, 2.5]],
                      float)
    after = np.array([[0, 0, 10, 10], [0, 0, 2, 10], [0, 0, 100, 2.5]],
                     float)
    np.testing.assert_array_equal(box_candidates(before, after),
                                  [True, False, False])


def test_hsv_identity_and_errors():
    r = _results(1)
    img = r['img'].copy()
    out = YOLOv5HSVRandomAug.apply(r, [1.0, 1.0, 1.0])
    # BGR -> HSV -> BGR in 8 bits is not lossless; the gains of 1 are
    assert np.abs(out['img'].astype(int) - img).mean() < 3
    t = YOLOv5HSVRandomAug(0, 0, 0)
    r2 = _results(1)
    before = r2['img'].copy()
    np.testing.assert_array_equal(t.transform(r2)['img'], before)
    with pytest.raises(ValueError, match='uint8'):
        YOLOv5HSVRandomAug.apply(dict(img=np.zeros((4, 4, 3), np.float32)),
                                 [1, 1, 1])
    with pytest.raises(ValueError, match='sgain'):
        YOLOv5HSVRandomAug(sgain=-1)
    ro = _results(1)
    ro['img'].flags.writeable = False  # works on a copy
    YOLOv5HSVRandomAug.apply(ro, [1.01, 1.2, 0.8])


def test_flip_convention_and_indices():
    r = _results(1)
    r['bbox'][0] = (10, 5, 30, 25)
    r['keypoints'][0] = [(10, 10), (12, 11), (20, 12)]
    r['keypoints_visible'][0] = [1, 0, 1]
    out = YOLOv5RandomFlip.apply(r, True)
    w = 80
    np.testing.assert_allclose(out['bbox'][0], (w - 30, 5, w - 10, 25))
    # re-ordered (0, 2, 1), then x -> w - x (mmpose: w - 1 - x)
    np.testing.assert_allclose(out['keypoints'][0],
                               [(w - 10, 10), (w - 20, 12), (w - 12, 11)])
    np.testing.assert_array_equal(out['keypoints_visible'][0], [1, 1, 0])
    assert out['flip'] and out['flip_direction'] == 'horizontal'
    r = _results(1)
    r.pop('flip_indices')
    with pytest.raises(KeyError, match='flip_indices'):
        YOLOv5RandomFlip.apply(r, True)
    empty = YOLOv5RandomFlip.apply(_results(0), True)
    assert empty['bbox'].shape == (0, 4)
    assert YOLOv5RandomFlip.apply(_results(1), False)['flip'] is False
    with pytest.raises(ValueError, match='prob'):
        YOLOv5RandomFlip(prob=2)
