"""Checks of a parsed mmpose dataset metainfo (keypoint set) file."""
import os.path as osp
from typing import Optional

import numpy as np


class MetainfoCheckError(ValueError):
    """A dataset metainfo file defines an inconsistent keypoint set."""


def resolve_metainfo_file(path: Optional[str]) -> Optional[str]:
    """The file mmpose's ``parse_pose_metainfo`` reads for ``path``.

    A path that does not exist is looked up by its base name among the
    metainfo files mmpose installs (``mmpose/.mim/configs/_base_/datasets``),
    as mmpose does, so ``'configs/_base_/datasets/crowdpose.py'`` names
    mmpose's CrowdPose file from any directory.
    """
    if path is None or osp.isfile(path):
        return path
    import mmpose
    installed = osp.join(
        osp.dirname(mmpose.__file__), '.mim', 'configs', '_base_',
        'datasets', osp.basename(path))
    return installed if osp.isfile(installed) else path


def check_pose_metainfo(parsed: dict, source: Optional[str]) -> None:
    """Raise :class:`MetainfoCheckError`, naming ``source``, unless the
    keypoint set is consistent.

    Args:
        parsed (dict): The output of mmpose's ``parse_pose_metainfo``.
        source (str, optional): The metainfo file it came from (for the
            message); None for a metainfo given inline.

    Checks: keypoint ids are ``0 .. K-1``; ``flip_indices`` (from each
    keypoint's ``swap`` name) is a permutation of ``range(K)`` that undoes
    itself (flipping twice is the identity, as a left/right swap must be);
    ``sigmas`` and ``joint_weights`` hold K numbers, the sigmas positive.
    """
    where = f'dataset metainfo file "{source}"' if source else \
        'the inline dataset metainfo'
    k = parsed['num_keypoints']
    ids = sorted(parsed['keypoint_id2name'])
    if ids != list(range(k)):
        raise MetainfoCheckError(
            f'{where}: keypoint_info ids must be 0..{k - 1}, got {ids}. Fix: '
            'number the keypoints consecutively from 0 in annotation order.')
    flip = [int(i) for i in parsed['flip_indices']]
    if sorted(flip) != list(range(k)) or any(
            flip[flip[i]] != i for i in range(k)):
        bad = [
            f'{i} ({parsed["keypoint_id2name"][i]}) -> {j}' for i, j in
            enumerate(flip) if not 0 <= j < k or flip[j] != i
        ]
        raise MetainfoCheckError(
            f'{where}: the flip indices {flip} (from the keypoints\' "swap" '
            f'names) are not a left/right permutation of range({k}); '
            f'inconsistent: {", ".join(bad[:5])}. Fix: give each left '
            'keypoint the name of its right twin as "swap" and vice versa, '
            'and "" to keypoints on the body\'s midline.')
    for key, name in (('sigmas', 'sigmas'),
                      ('dataset_keypoint_weights', 'joint_weights')):
        values = np.asarray(parsed.get(key), dtype=np.float64).reshape(-1)
        if values.size != k:
            raise MetainfoCheckError(
                f'{where}: "{name}" has {values.size} values but '
                f'keypoint_info defines {k} keypoints. Fix: give one value '
                'per keypoint, in keypoint order.')
    sigmas = np.asarray(parsed['sigmas'], dtype=np.float64)
    if not (np.isfinite(sigmas).all() and (sigmas > 0).all()):
        raise MetainfoCheckError(
            f'{where}: "sigmas" must be positive, got {sigmas.tolist()}. '
            'Fix: use the per-keypoint OKS sigmas (COCO: 0.025-0.107).')
