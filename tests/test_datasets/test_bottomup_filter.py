"""ValidatedCocoDataset's bottom-up ``filter_cfg`` keys keep what YOLO-Pose's
and KAPAO's datasets keep; without them mmpose's data list is unchanged."""
import numpy as np
import pytest
from mmpose.registry import DATASETS
from pycocotools.coco import COCO

from posekit_plugins.datasets import DatasetCheckError
from tests.conftest import COCO_MINI

ANN = 'annotations/person_keypoints_train2017.json'


def build(filter_cfg=None, pipeline=(), **kwargs):
    return DATASETS.build(dict(
        type='ValidatedCocoDataset', data_root=str(COCO_MINI), ann_file=ANN,
        data_prefix=dict(img='train2017/'), data_mode='bottomup',
        filter_cfg=filter_cfg, pipeline=list(pipeline), **kwargs))


def _counts(ds):
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    return dict(
        images=len(infos),
        persons=sum(len(d['bbox']) for d in infos),
        crowd=sum(int(np.sum(d['iscrowd'])) for d in infos),
        no_kpt=sum(int(np.sum(np.asarray(d['num_keypoints']) == 0))
                   for d in infos))


@pytest.fixture(scope='module')
def coco():
    return COCO(str(COCO_MINI / ANN))


def test_mmpose_default_unchanged(coco):
    anns = coco.dataset['annotations']
    # the configs' filter_cfg keys are not read by mmpose (nor by us)
    for cfg in (None, dict(filter_empty_gt=False, min_size=32)):
        c = _counts(build(cfg))
        assert c == dict(images=len({a['image_id'] for a in anns}),
                         persons=len(anns),
                         crowd=sum(a['iscrowd'] for a in anns),
                         no_kpt=sum(a['num_keypoints'] == 0 for a in anns))


def test_kapao_setting(coco):
    anns = coco.dataset['annotations']
    ds = build(dict(keep_empty_images=True, keep_crowd=False,
                    min_keypoints=0))
    c = _counts(ds)
    non_crowd = [a for a in anns if not a['iscrowd']]
    assert c == dict(images=len(coco.getImgIds()), persons=len(non_crowd),
                     crowd=0,
                     no_kpt=sum(a['num_keypoints'] == 0 for a in non_crowd))
    assert ds.bottomup_filter_counts['crowd'] == len(anns) - len(non_crowd)
    # crowd regions stay maskable
    segs = sum(len(ds.get_data_info(i)['invalid_segs'])
               for i in range(len(ds)))
    assert segs == sum(1 for a in anns
                       if a['iscrowd'] or a['num_keypoints'] == 0)


def test_keypoint_persons_only(coco):
    anns = [a for a in coco.dataset['annotations']
            if not a['iscrowd'] and a['num_keypoints'] >= 1]
    c = _counts(build(dict(keep_crowd=False, min_keypoints=1)))
    assert c == dict(images=len({a['image_id'] for a in anns}),
                     persons=len(anns), crowd=0, no_kpt=0)
    c = _counts(build(dict(keep_empty_images=True, keep_crowd=False,
                           min_keypoints=1)))
    assert c['images'] == len(coco.getImgIds())


def test_empty_images_go_through_the_pipeline():
    pipeline = [
        dict(type='LoadImage'),
        dict(type='YOLOv5Mosaic', img_scale=64,
             pre_transform=[dict(type='LoadImage')]),
        dict(type='YOLOv5RandomPerspective', input_size=64),
        dict(type='YOLOv5HSVRandomAug'),
        dict(type='YOLOv5RandomFlip'),
        dict(type='GenerateTarget',
             encoder=dict(type='YOLOXPoseAnnotationProcessor',
                          input_size=(64, 64))),
        dict(type='PackPoseInputs'),
    ]
    ds = build(dict(keep_empty_images=True, keep_crowd=False,
                    min_keypoints=0), pipeline=pipeline)
    empty = [i for i in range(len(ds))
             if len(ds.get_data_info(i)['bbox']) == 0]
    assert empty
    info = ds.get_data_info(empty[0])
    full = ds.get_data_info(0)
    for key, value in full.items():
        if isinstance(value, np.ndarray) and key != 'dataset_keypoint_weights':
            assert info[key].shape[1:] == value.shape[1:], key
            assert info[key].dtype == value.dtype, key
    np.random.seed(1)
    for i in empty[:2] + [0]:
        out = ds[i]
        assert tuple(out['inputs'].shape) == (3, 64, 64)


def test_test_mode_lists_each_image_once(coco):
    ds = build(dict(keep_empty_images=True, keep_crowd=False),
               test_mode=True)
    ids = [ds.get_data_info(i)['img_id'] for i in range(len(ds))]
    assert sorted(ids) == sorted(coco.getImgIds())


def test_bad_filter_cfg():
    with pytest.raises(DatasetCheckError, match='unknown keys'):
        build(dict(keep_empty=True))
    with pytest.raises(DatasetCheckError, match='min_keypoints'):
        build(dict(min_keypoints=-1))
