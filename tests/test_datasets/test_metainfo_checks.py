"""A dataset metainfo file that defines an inconsistent keypoint set, or an
annotation file of another K, stops the dataset build with an error naming
the file."""
import copy
import json
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmpose.datasets.datasets.utils import parse_pose_metainfo
from mmpose.registry import DATASETS

from posekit_plugins.datasets import (
    DatasetCheckError,
    MetainfoCheckError,
    check_pose_metainfo,
    resolve_metainfo_file,
)
from tests.conftest import COCO_TINY, DATA

CROWDPOSE_META = resolve_metainfo_file('configs/_base_/datasets/crowdpose.py')
CROWDPOSE_TINY = DATA / 'crowdpose_tiny'


def crowdpose_info() -> dict:
    return copy.deepcopy(Config.fromfile(CROWDPOSE_META).dataset_info)


def write_meta(tmp_path, info: dict):
    path = tmp_path / 'my_keypoints.py'
    path.write_text(f'dataset_info = {info!r}\n')
    return path


def build(meta_file=None, **kwargs):
    cfg = dict(type='ValidatedCrowdPoseDataset', data_mode='topdown',
               data_root=str(CROWDPOSE_TINY), ann_file='crowdpose_tiny.json',
               data_prefix=dict(img='../coco_tiny/'), pipeline=[])
    if meta_file is not None:
        cfg['metainfo'] = dict(from_file=str(meta_file))
    cfg.update(kwargs)
    return DATASETS.build(cfg)


def test_resolve_finds_mmpose_installed_file():
    assert CROWDPOSE_META.endswith('.mim/configs/_base_/datasets/crowdpose.py')
    assert resolve_metainfo_file(str(CROWDPOSE_META)) == CROWDPOSE_META


def test_valid_custom_file_is_accepted(tmp_path):
    meta = write_meta(tmp_path, crowdpose_info())
    ds = build(meta)
    assert ds.metainfo['num_keypoints'] == 14
    assert ds.metainfo_file == str(meta)
    # CrowdPose: 6 left/right pairs, head top and neck map to themselves
    assert ds.metainfo['flip_indices'] == [1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11,
                                           10, 12, 13]


def test_flip_indices_not_a_permutation_names_the_file(tmp_path):
    info = crowdpose_info()
    # right_elbow now "swaps" with left_shoulder: two keypoints flip onto 0
    info['keypoint_info'][3]['swap'] = 'left_shoulder'
    meta = write_meta(tmp_path, info)
    with pytest.raises(MetainfoCheckError) as err:
        build(meta)
    msg = str(err.value)
    assert str(meta) in msg and 'not a left/right permutation' in msg
    assert '3 (right_elbow) -> 0' in msg


def test_flip_that_is_a_permutation_but_not_a_swap_is_refused(tmp_path):
    # a 3-cycle 0 -> 2 -> 4 -> 0: a permutation, but flipping twice moves
    info = crowdpose_info()
    kinfo = info['keypoint_info']
    kinfo[0]['swap'], kinfo[2]['swap'], kinfo[4]['swap'] = (
        kinfo[2]['name'], kinfo[4]['name'], kinfo[0]['name'])
    kinfo[1]['swap'] = kinfo[3]['swap'] = kinfo[5]['swap'] = ''
    with pytest.raises(MetainfoCheckError, match='not a left/right'):
        build(write_meta(tmp_path, info))


def test_unknown_swap_name_names_the_file(tmp_path):
    info = crowdpose_info()
    info['keypoint_info'][0]['swap'] = 'right_shoulderr'
    meta = write_meta(tmp_path, info)
    with pytest.raises(MetainfoCheckError) as err:
        build(meta)
    assert str(meta) in str(err.value) and 'right_shoulderr' in str(
        err.value)


@pytest.mark.parametrize('key', ['sigmas', 'joint_weights'])
def test_wrong_number_of_sigmas_names_the_file(tmp_path, key):
    info = crowdpose_info()
    info[key] = info[key][:13]
    meta = write_meta(tmp_path, info)
    with pytest.raises(MetainfoCheckError) as err:
        build(meta)
    msg = str(err.value)
    assert str(meta) in msg and f'"{key}" has 13 values' in msg
    assert '14 keypoints' in msg


def test_non_positive_sigma_is_refused():
    parsed = parse_pose_metainfo(crowdpose_info())
    parsed['sigmas'] = np.where(np.arange(14) == 5, 0.0, parsed['sigmas'])
    with pytest.raises(MetainfoCheckError, match='positive'):
        check_pose_metainfo(parsed, 'f.py')


def test_annotation_k_differs_from_metainfo_k(tmp_path):
    """COCO's 17-keypoint file read with the 14-keypoint CrowdPose metainfo:
    the error names both files."""
    shutil.copy(COCO_TINY / 'test_coco.json', tmp_path / 'ann.json')
    for img in json.loads((COCO_TINY / 'test_coco.json').read_text())[
            'images']:
        shutil.copy(COCO_TINY / img['file_name'], tmp_path)
    with pytest.raises(DatasetCheckError) as err:
        build(data_root=str(tmp_path), ann_file='ann.json',
              data_prefix=dict(img=''))
    msg = str(err.value)
    assert 'ann.json' in msg and CROWDPOSE_META in msg
    assert '17 keypoints' in msg and 'defines 14 keypoints' in msg
