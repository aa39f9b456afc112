"""YOLOv5Letterbox gives the originals' (YOLO-Pose, KAPAO) input and maps
predictions back as their ``scale_coords``."""
import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.structures import InstanceData
from mmpose.models.pose_estimators import BottomupPoseEstimator
from mmpose.registry import DATASETS, TRANSFORMS

from posekit_plugins.datasets.transforms import YOLOv5Letterbox
from tests.conftest import COCO_TINY

REF_DIR = Path(__file__).parents[2] / 'data' / 'onestage'
META_KEYS = ('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
             'input_size', 'input_center', 'input_scale')


def _read(name: str) -> np.ndarray:
    img = cv2.imread(str(COCO_TINY / name))
    assert img is not None, name
    return img


def _layout(h0, w0, w, h, auto=False, stride=32, scaleup=True):
    """The letterbox's ratio, resized size and padding, written from the
    formula (numpy's rint rounds halves to even, as Python's round)."""
    r = min(h / h0, w / w0)
    if not scaleup:
        r = min(r, 1.0)
    new_w, new_h = int(np.rint(w0 * r)), int(np.rint(h0 * r))
    dw, dh = w - new_w, h - new_h
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    top, bottom = int(np.rint(dh / 2 - 0.1)), int(np.rint(dh / 2 + 0.1))
    left, right = int(np.rint(dw / 2 - 0.1)), int(np.rint(dw / 2 + 0.1))
    return r, (new_w, new_h), (top, bottom, left, right)


def _expected_image(img, w, h, **kwargs):
    """A canvas of 114 with the resized image pasted at (left, top)."""
    h0, w0 = img.shape[:2]
    _, (new_w, new_h), (top, bottom, left, right) = _layout(
        h0, w0, w, h, **kwargs)
    out = np.full((top + new_h + bottom, left + new_w + right, 3), 114,
                  np.uint8)
    content = img if (new_w, new_h) == (w0, h0) else cv2.resize(
        img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    out[top:top + new_h, left:left + new_w] = content
    return out


def _scale_coords(img1_shape, coords, img0_shape):
    """The originals' ``scale_coords`` formula without ``ratio_pad`` (no
    clipping), on (..., 2)."""
    gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
    pad = ((img1_shape[1] - img0_shape[1] * gain) / 2,
           (img1_shape[0] - img0_shape[0] * gain) / 2)
    out = coords.clone() if torch.is_tensor(coords) else coords.copy()
    out[..., 0] -= pad[0]
    out[..., 1] -= pad[1]
    return out / gain


def _to_image(data_sample, keypoints, bboxes=None):
    """mmpose's own input -> image mapping (the estimator is not needed by
    the method, only the data sample's metainfo)."""
    inst = InstanceData(keypoints=keypoints,
                        keypoint_scores=np.ones(keypoints.shape[:2]))
    if bboxes is not None:
        inst.bboxes = bboxes
    out = BottomupPoseEstimator.add_pred_to_datasample(
        None, [inst], None, [data_sample])
    return out[0].pred_instances


# image, input side, resized (w, h), padding (top, bottom, left, right)
# 000000000785.jpg is 640x425, 000000040083.jpg 500x333,
# 000000196141.jpg 640x429, 000000197388.jpg 640x392
LAYOUTS = [
    ('000000000785.jpg', 640, (640, 425), (107, 108, 0, 0)),  # r == 1
    ('000000000785.jpg', 960, (960, 638), (161, 161, 0, 0)),  # 637.5 -> 638
    ('000000000785.jpg', 320, (320, 212), (54, 54, 0, 0)),  # 212.5 -> 212
    ('000000040083.jpg', 640, (640, 426), (107, 107, 0, 0)),  # 426.24
    ('000000040083.jpg', 960, (960, 639), (160, 161, 0, 0)),  # odd padding
    ('000000196141.jpg', 640, (640, 429), (105, 106, 0, 0)),
    ('000000196141.jpg', 960, (960, 644), (158, 158, 0, 0)),  # 643.5 -> 644
    ('000000196141.jpg', 320, (320, 214), (53, 53, 0, 0)),  # 214.5 -> 214
    ('000000197388.jpg', 640, (640, 392), (124, 124, 0, 0)),
    ('000000197388.jpg', 960, (960, 588), (186, 186, 0, 0)),
]


@pytest.mark.parametrize('name,side,resized,padding', LAYOUTS)
def test_shape_padding_and_pixels(name, side, resized, padding):
    img = _read(name)
    h0, w0 = img.shape[:2]
    # the table agrees with the formula (halves rounded to even)
    assert _layout(h0, w0, side, side)[1:] == (resized, padding)
    results = YOLOv5Letterbox(input_size=side).transform(dict(img=img.copy()))
    out = results['img']
    assert out.shape == (side, side, 3) and out.dtype == np.uint8
    assert results['img_shape'] == (side, side)
    assert results['input_size'] == (side, side)
    top, bottom, left, right = padding
    np.testing.assert_array_equal(results['pad_param'], padding)
    new_w, new_h = resized
    assert (out[:top] == 114).all() and (out[side - bottom:] == 114).all()
    assert (out[:, :left] == 114).all()
    assert (out[:, side - right:] == 114).all()
    content = out[top:top + new_h, left:left + new_w]
    if resized == (w0, h0):
        np.testing.assert_array_equal(content, img)  # copied, not resampled
    else:
        np.testing.assert_array_equal(
            content, cv2.resize(img, resized, interpolation=cv2.INTER_LINEAR))
    np.testing.assert_array_equal(out, _expected_image(img, side, side))


@pytest.mark.parametrize('kwargs', [
    dict(auto=True),
    dict(auto=True, stride=64),
    dict(scaleup=False),
    dict(auto=True, scaleup=False),
])
@pytest.mark.parametrize('size', [(640, 640), (960, 960), (1280, 1280),
                                  (640, 384), (321, 255)])
def test_modes_match_the_formula(kwargs, size):
    for path in sorted(COCO_TINY.glob('*.jpg')):
        img = _read(path.name)
        results = YOLOv5Letterbox(input_size=size, **kwargs).transform(
            dict(img=img))
        expected = _expected_image(img, *size, **kwargs)
        np.testing.assert_array_equal(results['img'], expected)
        assert results['input_size'] == expected.shape[1::-1]
        if kwargs.get('auto'):
            # the resized side that limits r is a stride multiple here
            stride = kwargs.get('stride', 32)
            if size[0] % stride == 0 and size[1] % stride == 0 \
                    and kwargs.get('scaleup', True):
                assert 0 in (expected.shape[0] % stride,
                             expected.shape[1] % stride)


def test_auto_and_scaleup_examples():
    img = _read('000000040083.jpg')  # 500x333 -> 640x426
    out = YOLOv5Letterbox(640, auto=True).transform(dict(img=img))
    assert out['img'].shape == (448, 640, 3)  # 214 % 32 = 22 rows padded
    np.testing.assert_array_equal(out['pad_param'], [11, 11, 0, 0])
    # scaleup=False: a small image is padded, never enlarged
    small = img[:100, :150]
    out = YOLOv5Letterbox(640, scaleup=False).transform(dict(img=small))
    np.testing.assert_array_equal(out['img'][270:370, 245:395], small)
    np.testing.assert_array_equal(out['pad_param'], [270, 270, 245, 245])
    pts = np.array([[[245., 270.], [395., 370.]]])
    np.testing.assert_allclose(
        _to_image(_pack(out), pts).keypoints, [[[0, 0], [150, 100]]],
        atol=1e-9)


def test_registered_and_channels():
    t = TRANSFORMS.build(dict(type='YOLOv5Letterbox', input_size=(320, 256)))
    assert isinstance(t, YOLOv5Letterbox)
    assert 'input_size=(320, 256)' in repr(t)
    img = _read('000000040083.jpg')
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    for im in (gray, gray[..., None]):
        out = t.transform(dict(img=im))['img']
        assert out.shape[:2] == (256, 320) and out.ndim == im.ndim
        assert out[0, 0].item() == 114
    out = YOLOv5Letterbox(320, pad_val=(1, 2, 3)).transform(dict(img=img))
    np.testing.assert_array_equal(out['img'][0, 0], [1, 2, 3])


def _pack(results):
    return TRANSFORMS.build(dict(type='PackPoseInputs', meta_keys=META_KEYS))(
        results)['data_samples']


def _dataset(side):
    return DATASETS.build(dict(
        type='CocoDataset', data_root=str(COCO_TINY), data_mode='bottomup',
        ann_file='test_coco.json', data_prefix=dict(img=''), test_mode=True,
        pipeline=[
            dict(type='LoadImage'),
            dict(type='YOLOv5Letterbox', input_size=side, map_annotations=True),
            dict(type='PackPoseInputs', meta_keys=META_KEYS),
        ]))


@pytest.mark.parametrize('side', [640, 960])
def test_pipeline_input_and_round_trip(side):
    """LoadImage -> YOLOv5Letterbox -> PackPoseInputs: the input tensor is the
    letterbox; annotations are mapped to the input and mmpose's
    add_pred_to_datasample maps them back exactly; on any input point it
    agrees with the originals' scale_coords."""
    ds = _dataset(side)
    assert len(ds) == 4
    rng = np.random.default_rng(side)
    for i in range(len(ds)):
        raw = ds.get_data_info(i)
        packed = ds[i]
        img = cv2.imread(raw['img_path'])
        h0, w0 = img.shape[:2]
        expected = _expected_image(img, side, side)
        inputs = packed['inputs']
        assert inputs.dtype == torch.uint8
        np.testing.assert_array_equal(inputs.numpy(),
                                      expected.transpose(2, 0, 1))
        sample = packed['data_samples']
        assert sample.input_size == (side, side)
        assert tuple(sample.ori_shape) == (h0, w0)

        # annotations: image -> input -> image
        gt = sample.gt_instances
        kpts_in, bbox_in = gt.keypoints, gt.bboxes
        gain = min(side / h0, side / w0)
        pad = np.array([(side - w0 * gain) / 2, (side - h0 * gain) / 2])
        np.testing.assert_allclose(kpts_in, raw['keypoints'] * gain + pad,
                                   rtol=0, atol=1e-3)
        back = _to_image(sample, kpts_in.astype(np.float64),
                         bbox_in.astype(np.float64))
        np.testing.assert_allclose(back.keypoints, raw['keypoints'],
                                   rtol=0, atol=1e-4)  # float32 storage
        np.testing.assert_allclose(back.bboxes, raw['bbox'], rtol=0,
                                   atol=1e-4)

        # any input point: mmpose's mapping == scale_coords
        pts = rng.uniform(-10, side + 10, (7, 17, 2))
        ref = _scale_coords((side, side), pts, (h0, w0))
        ours = _to_image(sample, pts.copy()).keypoints
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
        # in float32, as the models output and the originals compute
        pts32 = pts.astype(np.float32)
        ref32 = _scale_coords((side, side), torch.from_numpy(pts32),
                              (h0, w0)).numpy()
        ours32 = _to_image(sample, pts32.copy()).keypoints
        np.testing.assert_allclose(ours32, ref32, rtol=0, atol=2e-4)
        boxes = np.sort(pts[:, :2].reshape(7, 2, 2), axis=1).reshape(7, 4)
        ref_boxes = _scale_coords((side, side), boxes.reshape(7, 2, 2),
                                  (h0, w0)).reshape(7, 4)
        np.testing.assert_allclose(
            _to_image(sample, pts.copy(), boxes.copy()).bboxes, ref_boxes,
            rtol=0, atol=1e-9)


def test_annotations_forward_with_the_metainfo_affine():
    img = _read('000000040083.jpg')
    kpts = np.array([[[0, 0], [499.5, 332.5], [250, 100]]], np.float32)
    kept = YOLOv5Letterbox(960).transform(dict(img=img, keypoints=kpts.copy()))
    assert np.array_equal(kept['keypoints'], kpts)  # test pipelines: as is
    results = YOLOv5Letterbox(960, map_annotations=True).transform(dict(
        img=img, keypoints=kpts.copy(),
        bbox=np.array([[10, 20, 300, 330]], np.float32),
        bbox_center=np.array([[155, 175]], np.float32),
        bbox_scale=np.array([[290, 310]], np.float32),
        area=np.array([1000.], np.float32)))
    gain, pad = 1.92, np.array([0., (960 - 333 * 1.92) / 2])
    assert results['keypoints'].dtype == np.float32
    np.testing.assert_allclose(results['keypoints'], kpts * gain + pad,
                               rtol=1e-6)
    np.testing.assert_allclose(results['bbox'],
                               [[19.2, 38.4 + pad[1], 576, 633.6 + pad[1]]],
                               rtol=1e-6)
    np.testing.assert_allclose(results['bbox_center'],
                               [[155 * gain, 175 * gain + pad[1]]], rtol=1e-6)
    np.testing.assert_allclose(results['bbox_scale'],
                               [[290 * gain, 310 * gain]], rtol=1e-6)
    np.testing.assert_allclose(results['area'], [1000 * gain**2], rtol=1e-6)
    np.testing.assert_allclose(results['warp_mat'],
                               [[gain, 0, 0], [0, gain, pad[1]]], rtol=1e-6)
    # the float pad, not the integer padding applied (160 rows on top)
    assert pad[1] == pytest.approx(160.32)
    np.testing.assert_array_equal(results['pad_param'], [160, 161, 0, 0])


@pytest.mark.parametrize('side', [640, 960])
def test_ratio_pad_letterbox(side):
    """ratio_pad='letterbox': scale_coords with the letterbox's own (ratio,
    pad), i.e. (x - d / 2) / r with d the padding applied; the default is
    (w0 r - round(w0 r)) / 2 input pixels away."""
    rng = np.random.default_rng(side)
    for path in sorted(COCO_TINY.glob('*.jpg')):
        img = _read(path.name)
        h0, w0 = img.shape[:2]
        r, (new_w, new_h), (top, bottom, left, right) = _layout(
            h0, w0, side, side)
        kpts = rng.uniform(0, min(h0, w0), (3, 17, 2)).astype(np.float32)
        t = YOLOv5Letterbox(side, ratio_pad='letterbox', map_annotations=True)
        results = t.transform(dict(img=img, keypoints=kpts.copy()))
        pad = np.array([(left + right) / 2, (top + bottom) / 2])
        np.testing.assert_allclose(results['keypoints'], kpts * r + pad,
                                   rtol=0, atol=1e-3)
        sample = _pack(results)
        pts = rng.uniform(0, side, (5, 17, 2))
        np.testing.assert_allclose(
            _to_image(sample, pts.copy()).keypoints, (pts - pad) / r,
            rtol=0, atol=1e-9)
        back = _to_image(sample, results['keypoints'].astype(np.float64))
        np.testing.assert_allclose(back.keypoints, kpts, rtol=0, atol=1e-4)
        default = _to_image(_pack(YOLOv5Letterbox(side).transform(
            dict(img=img))), pts.copy()).keypoints
        shift = np.array([w0 * r - new_w, h0 * r - new_h]) / 2 / r
        np.testing.assert_allclose(default - (pts - pad) / r, np.broadcast_to(
            shift, pts.shape), rtol=0, atol=1e-9)
        assert (np.abs(shift) <= 0.25 / r).all()
        if path.name == '000000040083.jpg' and side == 640:
            assert shift[1] == pytest.approx(0.12 / 1.28)  # 426.24 vs 426


@pytest.mark.parametrize('side', [640, 960])
def test_bottomup_resize_gives_another_input(side):
    """The measured reason for this transform: mmpose's BottomupResize, as
    the configs set it, gives other pixels than the letterbox unless it only
    copies the image (no scaling, even padding); its metainfo maps back the
    same way."""
    resize = TRANSFORMS.build(dict(
        type='BottomupResize', input_size=(side, side), size_factor=64,
        pad_val=(114, 114, 114)))
    identical = []
    for path in sorted(COCO_TINY.glob('*.jpg')):
        img = _read(path.name)
        h0, w0 = img.shape[:2]
        ours = YOLOv5Letterbox(side).transform(dict(img=img.copy()))
        theirs = resize.transform(dict(img=img.copy(), ori_shape=(h0, w0)))
        assert theirs['img'].shape == ours['img'].shape
        diff = np.abs(theirs['img'].astype(int) - ours['img'].astype(int))
        r, _, (top, bottom, _, _) = _layout(h0, w0, side, side)
        assert (diff.max() == 0) == (r == 1 and top == bottom), path.name
        if diff.max() == 0:
            identical.append(path.name)
        else:
            assert diff.max() > 40 and (diff.max(-1) > 0).mean() > 0.3
        pts = np.random.default_rng(0).uniform(0, side, (3, 17, 2))
        mapped = [
            pts / res['input_size'] * res['input_scale'] +
            res['input_center'] - 0.5 * res['input_scale']
            for res in (ours, theirs)
        ]
        np.testing.assert_allclose(mapped[0], mapped[1], rtol=0, atol=1e-3)
    assert identical == (['000000197388.jpg'] if side == 640 else [])


@pytest.mark.parametrize('img,match', [
    (np.zeros((0, 10, 3), np.uint8), 'non-empty'),
    (np.zeros((10, 0, 3), np.uint8), 'non-empty'),
    (np.zeros((10, ), np.uint8), 'non-empty'),
    (np.zeros((1, 100000, 3), np.uint8), 'resized to'),
])
def test_bad_images(img, match):
    with pytest.raises(ValueError, match=match):
        YOLOv5Letterbox(640).transform(dict(img=img))


def test_bad_arguments():
    with pytest.raises(TypeError, match='img'):
        YOLOv5Letterbox(640).transform(dict(img_path='x.jpg'))
    for size in (0, -640, (640, 0), (0, 0), (-1, 640)):
        with pytest.raises(ValueError, match='input_size must be positive'):
            YOLOv5Letterbox(size)
    for size in (640.0, (640, ), (640, 640, 3), '640', (640.5, 640), True):
        with pytest.raises(TypeError, match='input_size'):
            YOLOv5Letterbox(size)
    for stride in (0, -32, 32.0):
        with pytest.raises(ValueError, match='stride'):
            YOLOv5Letterbox(640, auto=True, stride=stride)
    with pytest.raises(ValueError, match='pad_val'):
        YOLOv5Letterbox(640, pad_val=(1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match='ratio_pad'):
        YOLOv5Letterbox(640, ratio_pad='scale_coords')
    with pytest.raises(ValueError, match='keypoints'):
        YOLOv5Letterbox(640, map_annotations=True).transform(dict(
            img=_read('000000040083.jpg'), keypoints=np.zeros((1, 17, 3))))


# --- the original code's own letterbox output ----------------------------
# tests/data/onestage/*_ref.json (tools/make_onestage_fixtures.py runs the
# original code): generator.settings (img_size, letterbox: auto, scaleup,
# color), images[]: file, orig_shape, letterbox_sha1 (uint8 HWC BGR bytes),
# letterbox_ratio, letterbox_pad, input_shape (1, 3, h, w), and the
# original's detections in input pixels (nms) and after its scale_coords
# with ratio_pad = (letterbox_ratio, letterbox_pad) (final).

REF_FILES = sorted(REF_DIR.glob('*_ref.json'))
needs_refs = pytest.mark.parametrize(
    'ref_file', REF_FILES or [None], ids=lambda p: p.name if p else 'absent')


def _load_ref(ref_file):
    if ref_file is None:
        pytest.skip(f'no {REF_DIR.relative_to(REF_DIR.parents[2])}/'
                    "*_ref.json: the original code's letterbox digests come "
                    'with the one-stage parity fixtures')
    ref = json.loads(ref_file.read_text())
    settings = ref['generator']['settings']
    letterbox = settings.get('letterbox', {})
    assert letterbox.get('color', 114) == 114, letterbox
    kwargs = dict(input_size=settings['img_size'],
                  auto=letterbox.get('auto', False),
                  scaleup=letterbox.get('scaleup', True))
    if kwargs['auto']:
        kwargs['stride'] = letterbox.get(
            'stride', int(max(ref['model']['strides'])))
    assert ref['images'], ref_file
    return ref, kwargs


def _ref_run(rec, kwargs):
    path = COCO_TINY / rec['file']
    img = cv2.imread(str(path))
    assert list(img.shape[:2]) == rec['orig_shape'], rec['file']
    return YOLOv5Letterbox(**kwargs).transform(dict(img=img))


@needs_refs
def test_same_pixels_as_the_original(ref_file):
    ref, kwargs = _load_ref(ref_file)
    for rec in ref['images']:
        results = _ref_run(rec, kwargs)
        out = results['img']
        what = f'{ref_file.name}: {rec["file"]} {kwargs}'
        assert list(out.shape[:2]) == rec['input_shape'][-2:], what
        assert hashlib.sha1(out.tobytes()).hexdigest() == \
            rec['letterbox_sha1'], what
        h0, w0 = rec['orig_shape']
        size = kwargs['input_size']
        r = _layout(h0, w0, size, size, **{
            k: v for k, v in kwargs.items() if k != 'input_size'})[0]
        np.testing.assert_allclose(rec['letterbox_ratio'], [r, r],
                                   rtol=1e-12, err_msg=what)
        top, bottom, left, right = results['pad_param']
        np.testing.assert_array_equal(
            rec['letterbox_pad'], [(left + right) / 2, (top + bottom) / 2],
            err_msg=what)


def _clip(xy, h0, w0):
    return np.stack([xy[..., 0].clip(0, w0), xy[..., 1].clip(0, h0)], -1)


@pytest.mark.parametrize('ref_file', [REF_DIR / 'yolopose_tiny_ref.json'],
                         ids=['yolopose_tiny_ref.json'])
def test_maps_back_as_the_original(ref_file):
    """YOLO-Pose's detections in input pixels (KAPAO's final poses are fused,
    not just mapped), through mmpose's add_pred_to_datasample: with
    ratio_pad='letterbox' they land where the
    original's scale_coords(ratio_pad=letterbox's) put them; the default
    (scale_coords without ratio_pad) is within a quarter input pixel."""
    ref, kwargs = _load_ref(ref_file)
    checked = 0
    for rec in ref['images']:
        if not rec.get('nms') or not rec['nms'].get('keypoints'):
            continue
        h0, w0 = rec['orig_shape']
        kpts = np.array(rec['nms']['keypoints'], np.float32)[..., :2]
        boxes = np.array(rec['nms']['bboxes'], np.float32)
        final_kpts = np.array(rec['final']['keypoints'], np.float32)
        final_boxes = np.array(rec['final']['bboxes'], np.float32)
        np.testing.assert_array_equal(
            final_kpts[..., 2],
            np.array(rec['nms']['keypoints'], np.float32)[..., 2])
        for ratio_pad in ('letterbox', None):
            results = _ref_run(rec, dict(kwargs, ratio_pad=ratio_pad))
            pred = _to_image(_pack(results), kpts.copy(), boxes.copy())
            ours_kpts = _clip(pred.keypoints, h0, w0)
            # the original clips the first 4 boxes only
            ours_boxes = pred.bboxes.reshape(-1, 2, 2)
            ours_boxes[:4] = _clip(ours_boxes[:4], h0, w0)
            ours_boxes = ours_boxes.reshape(-1, 4)
            if ratio_pad == 'letterbox':
                tol = 1e-3  # float32 rounding
            else:
                r = rec['letterbox_ratio'][0]
                tol = 0.25 / r + 1e-3
            np.testing.assert_allclose(ours_kpts, final_kpts[..., :2],
                                       rtol=0, atol=tol)
            np.testing.assert_allclose(ours_boxes, final_boxes, rtol=0,
                                       atol=tol)
        checked += 1
    assert checked, f'{ref_file}: no detections to map'
