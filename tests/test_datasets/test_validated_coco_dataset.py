import json
import logging
import shutil

import numpy as np
import pytest
from mmpose.registry import DATASETS
from pycocotools.coco import COCO

from posekit_plugins.datasets import DatasetCheckError, ValidatedCocoDataset
from tests.conftest import COCO_MINI, COCO_TINY, COCO_TINY_ANN


def build(**kwargs):
    cfg = dict(type='ValidatedCocoDataset', data_mode='topdown',
               data_prefix=dict(img=''), pipeline=[])
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_valid_dataset_matches_pycocotools():
    ds = build(data_root=str(COCO_TINY), ann_file='test_coco.json')
    assert isinstance(ds, ValidatedCocoDataset)
    coco = COCO(str(COCO_TINY_ANN))
    # mmpose drops persons without any labelled keypoint in top-down mode
    expected = [a for a in coco.dataset['annotations']
                if not a.get('iscrowd') and a['num_keypoints'] > 0]
    assert len(ds) == len(expected)
    assert sorted(ds[i]['id'] for i in range(len(ds))) == sorted(
        a['id'] for a in expected)


@pytest.mark.parametrize('test_mode', [False, True])
def test_bottomup_mode(test_mode):
    ds = build(data_root=str(COCO_MINI),
               ann_file='annotations/person_keypoints_train2017.json',
               data_prefix=dict(img='train2017/'), data_mode='bottomup',
               test_mode=test_mode)
    coco = COCO(str(COCO_MINI / 'annotations/person_keypoints_train2017.json'))
    with_persons = {a['image_id'] for a in coco.dataset['annotations']}
    # mmpose keeps images without persons for evaluation only
    expected = coco.getImgIds() if test_mode else with_persons
    assert sorted(ds[i]['img_id'] for i in range(len(ds))) == sorted(expected)


def test_missing_data_root_names_the_path_and_the_fix(tmp_path):
    root = tmp_path / 'nowhere' / 'coco'
    with pytest.raises(DatasetCheckError) as err:
        build(data_root=str(root), ann_file='annotations/x.json')
    msg = str(err.value)
    assert str(root) in msg and 'data_root' in msg and 'Fix' in msg


def test_missing_annotation_file(tmp_path):
    with pytest.raises(DatasetCheckError, match='x.json'):
        build(data_root=str(tmp_path), ann_file='x.json')


def test_wrong_number_of_keypoints(tmp_path):
    data = json.loads(COCO_TINY_ANN.read_text())
    for ann in data['annotations']:
        ann['keypoints'] = ann['keypoints'][:16 * 3]  # a 16-keypoint file
    (tmp_path / 'ann.json').write_text(json.dumps(data))
    for img in data['images']:
        shutil.copy(COCO_TINY / img['file_name'], tmp_path)
    with pytest.raises(DatasetCheckError) as err:
        build(data_root=str(tmp_path), ann_file='ann.json')
    msg = str(err.value)
    assert 'ann.json' in msg and '16 keypoints' in msg and '17 keypoints' in msg
    # ... and the metainfo file the 17 come from
    assert msg.count('coco.py') >= 1


def test_missing_image_on_disk(tmp_path):
    data = json.loads(COCO_TINY_ANN.read_text())
    shutil.copy(COCO_TINY_ANN, tmp_path / 'ann.json')
    kept = data['images'][1:]
    for img in kept:
        shutil.copy(COCO_TINY / img['file_name'], tmp_path)
    with pytest.raises(DatasetCheckError) as err:
        build(data_root=str(tmp_path), ann_file='ann.json')
    msg = str(err.value)
    assert data['images'][0]['file_name'] in msg
    assert f'1 of {len(data["images"])} images' in msg


def _copy_tiny(tmp_path, edit):
    """coco_tiny with ``edit(data)`` applied to its annotation file."""
    data = json.loads(COCO_TINY_ANN.read_text())
    edit(data)
    (tmp_path / 'ann.json').write_text(json.dumps(data))
    for img in data['images']:
        shutil.copy(COCO_TINY / img['file_name'], tmp_path)
    return data


def _labelled(data):
    return [a for a in data['annotations'] if a['num_keypoints'] > 0]


@pytest.mark.parametrize('field', ['bbox', 'keypoints'])
def test_nan_in_annotation_names_it(tmp_path, field):
    def edit(data):
        _labelled(data)[1][field][1] = float('nan')
    data = _copy_tiny(tmp_path, edit)
    with pytest.raises(DatasetCheckError) as err:
        build(data_root=str(tmp_path), ann_file='ann.json')
    bad = _labelled(data)[1]
    assert f'annotation id {bad["id"]}' in str(err.value)
    assert 'NaN or infinite' in str(err.value)


def _outside_edit(data):
    """Two labelled keypoints of one person 5 px right of its image, and an
    unlabelled one far outside (which is fine)."""
    ann = _labelled(data)[0]
    img = next(i for i in data['images'] if i['id'] == ann['image_id'])
    ks = [j for j in range(17) if ann['keypoints'][3 * j + 2] > 0][:2]
    for k in ks:
        ann['keypoints'][3 * k] = img['width'] + 5.0
    ann['keypoints'][3 * 16:3 * 17] = [-50.0, -50.0, 0]
    return ann, ks


def test_labelled_keypoint_outside_the_image_is_counted_as_mmpose(
        tmp_path, caplog):
    edited = {}
    data = _copy_tiny(tmp_path, lambda d: edited.update(
        zip(('ann', 'ks'), _outside_edit(d))))
    ann, ks = edited['ann'], edited['ks']
    ds = build(data_root=str(tmp_path), ann_file='ann.json')
    assert ds.outside_keypoints == 2
    # mmpose's own dataset keeps the same persons, keypoints and flags:
    # nothing is moved or unlabelled here
    ref = DATASETS.build(dict(
        type='CocoDataset', data_mode='topdown', data_root=str(tmp_path),
        ann_file='ann.json', data_prefix=dict(img=''), pipeline=[]))
    assert len(ds) == len(ref)
    info = next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['id'] == ann['id'])
    ref_info = next(ref.get_data_info(i) for i in range(len(ref))
                    if ref.get_data_info(i)['id'] == ann['id'])
    np.testing.assert_array_equal(info['keypoints'], ref_info['keypoints'])
    np.testing.assert_array_equal(info['keypoints_visible'],
                                  ref_info['keypoints_visible'])
    img = next(i for i in data['images'] if i['id'] == ann['image_id'])
    assert (info['keypoints'][0, ks, 0] == img['width'] + 5.0).all()
    assert (info['keypoints_visible'][0, ks] > 0).all()


def test_outside_keypoints_warning_is_logged_once(tmp_path):
    from mmengine.logging import MMLogger
    _copy_tiny(tmp_path, _outside_edit)
    logger = MMLogger.get_current_instance()
    records = []

    class Catch(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Catch(level=logging.WARNING)
    logger.addHandler(handler)
    try:
        build(data_root=str(tmp_path), ann_file='ann.json')
    finally:
        logger.removeHandler(handler)
    msgs = [r.getMessage() for r in records if 'outside' in r.getMessage()]
    assert len(msgs) == 1
    assert 'ann.json' in msgs[0] and '2 labelled keypoint(s)' in msgs[0]
    assert 'strict=True' in msgs[0] and 'annotation id' in msgs[0]


def test_outside_keypoints_strict_is_an_error(tmp_path):
    edited = {}
    _copy_tiny(tmp_path, lambda d: edited.update(
        zip(('ann', 'ks'), _outside_edit(d))))
    with pytest.raises(DatasetCheckError) as err:
        build(data_root=str(tmp_path), ann_file='ann.json', strict=True)
    msg = str(err.value)
    assert 'ann.json' in msg and f'annotation id {edited["ann"]["id"]}' in msg
    assert '2 labelled keypoint(s)' in msg and 'strict=True' in msg
    # a dataset that allows them says so in its config, strict or not
    ds = build(data_root=str(tmp_path), ann_file='ann.json', strict=True,
               outside_tolerance=10.0)
    assert len(ds) > 0 and ds.outside_keypoints == 0


def test_other_checks_stay_errors_without_strict(tmp_path):
    def edit(data):
        _labelled(data)[0]['keypoints'][0] = float('inf')
    _copy_tiny(tmp_path, edit)
    with pytest.raises(DatasetCheckError, match='NaN or infinite'):
        build(data_root=str(tmp_path), ann_file='ann.json', strict=False)


def test_dropped_persons_are_counted_by_reason(tmp_path):
    def edit(data):
        a, b, c = _labelled(data)[:3]
        a['iscrowd'] = 1
        b['bbox'][2] = 0.0  # zero width
        c['keypoints'] = [0.0] * 51
        c['num_keypoints'] = 0
    data = _copy_tiny(tmp_path, edit)
    ds = build(data_root=str(tmp_path), ann_file='ann.json')
    no_kpt = sum(a['num_keypoints'] == 0 for a in data['annotations'])
    assert ds.dropped_instances == dict(
        crowd=1, without_labelled_keypoints=no_kpt, degenerate_boxes=1)
    assert len(ds) == len(data['annotations']) - no_kpt - 2


def test_no_usable_person_is_an_error(tmp_path):
    def edit(data):
        for a in data['annotations']:
            a['keypoints'] = [0.0] * 51
            a['num_keypoints'] = 0
    _copy_tiny(tmp_path, edit)
    with pytest.raises(DatasetCheckError, match='none of its 14 persons'):
        build(data_root=str(tmp_path), ann_file='ann.json')
