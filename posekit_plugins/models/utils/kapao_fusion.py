"""KAPAO's fusion of keypoint objects into pose objects, vectorised."""
from typing import NamedTuple, Union

import numpy as np
import torch
from torch import Tensor


class FusionResult(NamedTuple):
    """Output of :func:`fuse_keypoint_objects`.

    Attributes:
        keypoints (Tensor): (P, K, 2) fused keypoints.
        keypoint_scores (Tensor): (P, K) keypoint confidences after fusion
            (the initial confidence where nothing was fused).
        sources (Tensor): (P, K) long, index (into the given keypoint
            objects) of the object fused into each keypoint, -1 where none.
        rounds (int): Vectorised rounds the sequential dependencies took
            (0 when nothing could be fused).
    """
    keypoints: Tensor
    keypoint_scores: Tensor
    sources: Tensor
    rounds: int


def _check_inputs(pose_keypoints: Tensor, pose_scores: Tensor,
                  kpt_xy: Tensor, kpt_scores: Tensor, kpt_labels: Tensor,
                  tol: Union[float, Tensor]) -> None:
    if pose_keypoints.ndim != 3 or pose_keypoints.shape[-1] != 2:
        raise ValueError('pose_keypoints must be (P, K, 2), got '
                         f'{tuple(pose_keypoints.shape)}')
    P, K = pose_keypoints.shape[:2]
    if pose_scores.shape != (P, ):
        raise ValueError(f'pose_scores must be ({P},), got '
                         f'{tuple(pose_scores.shape)}')
    M = kpt_xy.shape[0] if kpt_xy.ndim == 2 else -1
    if kpt_xy.ndim != 2 or kpt_xy.shape[1] != 2 or \
            kpt_scores.shape != (M, ) or kpt_labels.shape != (M, ):
        raise ValueError(
            'keypoint objects must be kpt_xy (M, 2), kpt_scores (M,) and '
            f'kpt_labels (M,), got {tuple(kpt_xy.shape)}, '
            f'{tuple(kpt_scores.shape)} and {tuple(kpt_labels.shape)}')
    if kpt_labels.dtype.is_floating_point or kpt_labels.dtype == torch.bool:
        raise TypeError('kpt_labels must be an integer tensor (keypoint '
                        f'type 0..K-1), got {kpt_labels.dtype}')
    if M > 0 and (int(kpt_labels.min()) < 0 or int(kpt_labels.max()) >= K):
        raise ValueError(f'kpt_labels must lie in [0, {K}) (keypoint type, '
                         'not the class index k + 1); got '
                         f'[{int(kpt_labels.min())}, {int(kpt_labels.max())}]')
    if isinstance(tol, Tensor) and tol.numel() != 1 and tol.shape != (P, ):
        raise ValueError(f'tol must be a number or a ({P},) tensor (one per '
                         f'person), got shape {tuple(tol.shape)}')


def fuse_keypoint_objects(pose_keypoints: Tensor,
                          pose_scores: Tensor,
                          kpt_xy: Tensor,
                          kpt_scores: Tensor,
                          kpt_labels: Tensor,
                          tol: Union[float, Tensor] = 50.0,
                          person_score_thr: float = 0.3,
                          pose_keypoint_scores: Union[Tensor, None] = None
                          ) -> FusionResult:
    """Fuse KAPAO keypoint objects into the keypoints of pose objects.

    Reproduces exactly the sequential loop of KAPAO's code
    (``val.py: post_process_batch``):

    1. Every pose keypoint starts with confidence 0 (or
       ``pose_keypoint_scores``). Only persons with score
       ``> person_score_thr`` take part; the others are returned unchanged.
    2. Keypoint objects are visited in descending confidence (ties: in the
       given order). Each finds the nearest keypoint of its type among those
       persons, **at its current position** (a keypoint already overwritten
       by an earlier object sits at that object's position), and overwrites
       it (position and confidence) if its confidence is strictly higher
       than that keypoint's current confidence and the distance is strictly
       under the tolerance. Only the nearest person is tried.

    Since objects come in descending confidence, a keypoint is overwritten
    at most once: a later object reaching it never beats the confidence of
    the first. What the order changes is which keypoint is nearest: an
    overwrite moves a keypoint, so a later object of the same type may find
    a different nearest keypoint than it would have found before.

    Vectorisation: objects are laid out per type, (K, L) with L the most
    objects of one type (types never interact), and all of them are decided
    at once against the current state, in rounds. An overwrite by object
    ``t`` can change the decision of a later object ``l`` of its type only
    if ``l`` was aiming at the same keypoint, or if ``l`` was going to
    overwrite and ``t``'s new position is at least as close to ``l`` as
    ``l``'s nearest keypoint (``l`` then loses to ``t``'s confidence). Each
    round commits, per type, the decisions before the first object such an
    overwrite of the same round could change; the rest is decided again in
    the next round. A round is a fixed set of tensor operations on (P, K, L)
    and (K, L, L) tensors, with no Python loop over objects or persons;
    scenes need more than one round only where same-type objects compete
    (crowds), at most one per object in the worst case. The result equals
    the sequential loop (:func:`fuse_keypoint_objects_sequential`) exactly.

    Note:
        - persons (pose objects): P; keypoint types: K
        - keypoint objects (after their NMS): M
        - all coordinates in one frame (e.g. input pixels), and ``tol`` in
          the same unit

        KAPAO: https://arxiv.org/abs/2111.08557 (original code:
        github.com/wmcnally/kapao, ``val.py``, 50 px in the original image)

    Args:
        pose_keypoints (Tensor): (P, K, 2) keypoints of the pose objects.
        pose_scores (Tensor): (P,) pose-object (person) scores.
        kpt_xy (Tensor): (M, 2) keypoint-object positions (box centres).
        kpt_scores (Tensor): (M,) keypoint-object confidences.
        kpt_labels (Tensor): (M,) keypoint type of each object, in
            ``[0, K)`` (the class index minus 1).
        tol (float | Tensor): Distance tolerance, a number or one value per
            person (P,) (e.g. relative to the person's size).
        person_score_thr (float): Persons with a score above it take part.
        pose_keypoint_scores (Tensor, optional): (P, K) initial keypoint
            confidences; zeros (the paper's code) when None.

    Returns:
        FusionResult: keypoints, keypoint_scores, sources, rounds.
    """
    _check_inputs(pose_keypoints, pose_scores, kpt_xy, kpt_scores, kpt_labels,
                  tol)
    P, K = pose_keypoints.shape[:2]
    device, dtype = pose_keypoints.device, pose_keypoints.dtype
    keypoints = pose_keypoints.clone()
    if pose_keypoint_scores is None:
        scores = pose_keypoints.new_zeros((P, K))
    else:
        if pose_keypoint_scores.shape != (P, K):
            raise ValueError(f'pose_keypoint_scores must be ({P}, {K})')
        scores = pose_keypoint_scores.to(dtype).clone()
    sources = torch.full((P, K), -1, dtype=torch.long, device=device)

    persons = (pose_scores > person_score_thr).nonzero(as_tuple=True)[0]
    M = kpt_xy.shape[0]
    if persons.numel() == 0 or M == 0:
        return FusionResult(keypoints, scores, sources, 0)

    # distances are compared squared (same order, no square root)
    tol_t = torch.as_tensor(tol, dtype=dtype, device=device)
    tol2 = (tol_t.expand(P)[persons] if tol_t.numel() > 1 else
            tol_t.reshape(1).expand(persons.numel())).square()

    # working state of the taking-part persons: (Q, K, 2) and (Q, K)
    cur_xy = keypoints[persons]
    cur_conf = scores[persons]
    cur_src = sources[persons]

    # visiting order (descending confidence, stable), then grouped by type
    # keeping that order: object `obj[i]` sits at (lab[i], rank[i])
    order = torch.sort(kpt_scores, descending=True, stable=True).indices
    lab = kpt_labels[order].long()
    by_type = torch.sort(lab, stable=True).indices
    obj, lab = order[by_type], lab[by_type]
    counts = torch.bincount(lab, minlength=K)
    rank = torch.arange(M, device=device) - (counts.cumsum(0) - counts)[lab]
    L = int(counts.max())
    pending = torch.zeros((K, L), dtype=torch.bool, device=device)
    pending[lab, rank] = True
    qxy = kpt_xy.new_zeros((2, K, L), dtype=dtype)  # x and y planes
    qxy[:, lab, rank] = kpt_xy[obj].to(dtype).T
    conf = kpt_scores.new_zeros((K, L), dtype=dtype)
    conf[lab, rank] = kpt_scores[obj].to(dtype)
    src = torch.full((K, L), -1, dtype=torch.long, device=device)
    src[lab, rank] = obj
    # [k, t, l]: squared distance between objects t and l of type k, as the
    # nearest search will see it once t has moved a keypoint (objects never
    # move, so once)
    dx = qxy[0, :, :, None] - qxy[0, :, None, :]
    dy = qxy[1, :, :, None] - qxy[1, :, None, :]
    pair_d2 = dx * dx + dy * dy
    before = torch.ones((L, L), dtype=torch.bool, device=device).triu(1)
    qx, qy = qxy[0, :, :, None], qxy[1, :, :, None]  # (K, L, 1)

    rounds = 0
    while bool(pending.any()):
        rounds += 1
        # (K, L, Q) squared distances to the current keypoints; min takes
        # the first person on ties, as numpy's argmin does
        dx = cur_xy[:, :, 0].T[:, None] - qx
        dy = cur_xy[:, :, 1].T[:, None] - qy
        dmin2, j = (dx * dx + dy * dy).min(-1)
        take = pending & (conf > cur_conf.T.gather(1, j)) & (dmin2 < tol2[j])
        # [k, t, l]: an overwrite by t this round could change l's decision
        changes = take[:, :, None] & before & (
            (j[:, :, None] == j[:, None, :]) |
            (take[:, None, :] & (pair_d2 <= dmin2[:, None, :])))
        affected = changes.any(1) & pending
        # commit each type up to (not including) its first affected object
        commit = pending & ~affected.cummax(1).values
        kk, ll = (commit & take).nonzero(as_tuple=True)
        jj = j[kk, ll]
        cur_xy[jj, kk] = qxy[:, kk, ll].T
        cur_conf[jj, kk] = conf[kk, ll]
        cur_src[jj, kk] = src[kk, ll]
        pending &= ~commit

    keypoints[persons] = cur_xy
    scores[persons] = cur_conf
    sources[persons] = cur_src
    return FusionResult(keypoints, scores, sources, rounds)


def fuse_keypoint_objects_sequential(pose_keypoints: np.ndarray,
                                     pose_scores: np.ndarray,
                                     kpt_xy: np.ndarray,
                                     kpt_scores: np.ndarray,
                                     kpt_labels: np.ndarray,
                                     tol: Union[float, np.ndarray] = 50.0,
                                     person_score_thr: float = 0.3,
                                     pose_keypoint_scores: Union[
                                         np.ndarray, None] = None):
    """Reference: the paper code's loop, one keypoint object at a time.

    Same arguments as :func:`fuse_keypoint_objects` but numpy arrays; kept
    for tests and benchmarks (it is what the vectorised function must
    equal). Returns ``(keypoints (P, K, 2), keypoint_scores (P, K),
    sources (P, K))``.
    """
    P, K = pose_keypoints.shape[:2]
    kps = np.array(pose_keypoints, dtype=np.float64, copy=True)
    conf = np.zeros((P, K)) if pose_keypoint_scores is None else np.array(
        pose_keypoint_scores, dtype=np.float64, copy=True)
    src = np.full((P, K), -1, dtype=np.int64)
    tol_p = np.broadcast_to(np.asarray(tol, dtype=np.float64), (P, ))
    persons = np.nonzero(np.asarray(pose_scores) > person_score_thr)[0]
    if len(persons) == 0:
        return kps, conf, src
    order = np.argsort(-np.asarray(kpt_scores, dtype=np.float64),
                       kind='stable')
    for m in order:
        k = int(kpt_labels[m])
        x, y = float(kpt_xy[m][0]), float(kpt_xy[m][1])
        dx, dy = kps[persons, k, 0] - x, kps[persons, k, 1] - y
        dist2 = dx * dx + dy * dy
        n = int(np.argmin(dist2))
        p = persons[n]
        if kpt_scores[m] > conf[p, k] and dist2[n] < tol_p[p] * tol_p[p]:
            kps[p, k] = (x, y)
            conf[p, k] = kpt_scores[m]
            src[p, k] = m
    return kps, conf, src
