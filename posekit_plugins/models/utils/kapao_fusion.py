"""KAPAO's fusion of keypoint objects into pose objects, vectorised."""
from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor

# ``sqrt`` is monotone but not strictly: squared distances a < b one or two
# ulps apart can have the same norm, and then the original's ``np.argmin``
# over norms takes the first of them. Any b with sqrt(b) == sqrt(a) is within
# a factor (1 + 2**-51) of a, so ``b <= a * _SLACK`` finds every such b (and
# sometimes a few more, which only costs a slower path).
_SLACK = 1.0 + 2.0**-40


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
                  tol: Union[float, Tensor],
                  pose_keypoint_scores: Optional[Tensor]) -> None:
    """Shape and dtype checks (no tensor operation: nothing to dispatch or
    synchronise); the label range is checked by each path."""
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
    if not isinstance(tol, (int, float)):
        tol_shape = tuple(tol.shape if isinstance(tol, Tensor) else
                          np.shape(tol))
        if int(np.prod(tol_shape)) != 1 and tol_shape != (P, ):
            raise ValueError(f'tol must be a number or a ({P},) tensor (one '
                             f'per person), got shape {tol_shape}')
    if pose_keypoint_scores is not None and \
            pose_keypoint_scores.shape != (P, K):
        raise ValueError(f'pose_keypoint_scores must be ({P}, {K})')


def _check_label_range(lo: int, hi: int, K: int) -> None:
    if lo < 0 or hi >= K:
        raise ValueError(f'kpt_labels must lie in [0, {K}) (keypoint type, '
                         f'not the class index k + 1); got [{lo}, {hi}]')


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
       by an earlier object sits at that object's position), by Euclidean
       distance (the first person on ties), and overwrites it (position and
       confidence) if its confidence is strictly higher than that keypoint's
       current confidence and the distance is strictly under the tolerance.
       Only the nearest person is tried.

    Distances are computed in float64 whatever the input dtype (float16 and
    bfloat16 included), as the original does (its pose array is float64),
    and compared as Euclidean norms (squares can break ties differently).

    Since objects come in descending confidence, a keypoint is overwritten
    at most once: a later object reaching it never beats the confidence of
    the first. What the order changes is which keypoint is nearest: an
    overwrite moves a keypoint, so a later object of the same type may find
    a different nearest keypoint than it would have found before.

    Vectorisation: types never interact, and all pending objects are decided
    at once against the current state, in rounds. An overwrite by object
    ``t`` can change the decision of a later object ``l`` of its type only
    if ``l`` was aiming at the same keypoint, or if ``l`` was going to
    overwrite and ``t``'s new position is at least as close to ``l`` as
    ``l``'s nearest keypoint (``l`` then loses to ``t``'s confidence). Each
    round commits, per type, the decisions before the first object such an
    overwrite of the same round could change; the rest is decided again in
    the next round. Scenes need more than one round only where same-type
    objects compete (crowds); every round commits at least the first pending
    object of each type. The result equals the sequential loop
    (:func:`fuse_keypoint_objects_sequential`) exactly.

    With one person taking part there is no choice of person: every object
    is decided against the initial keypoints and, per type, the first one
    that overwrites wins (one step).

    Two implementations, with the same result:

    - CPU tensors: numpy on the tensors' memory (no copy in, a few small
      arrays out). A numpy call on a small array costs about a microsecond,
      a torch operation several, and a one-person image is made of small
      arrays; this is what makes every scene size cheaper than the
      original's loop (``benchmarks/bench_kapao_fusion.py``).
    - Other devices: torch operations on the tensors' device (float32 on
      MPS, which lacks float64); the host synchronises twice per round
      (anything pending, which objects commit) and four times outside
      (label range, persons, the most objects of one type, the result).

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
        person_score_thr (float): Persons with a score above it take part
            (compared in the scores' dtype, as the original does).
        pose_keypoint_scores (Tensor, optional): (P, K) initial keypoint
            confidences; zeros (the paper's code) when None.

    Returns:
        FusionResult: keypoints (P, K, 2) and keypoint_scores (P, K) in the
        dtype of ``pose_keypoints``, sources (P, K) long, rounds.
    """
    _check_inputs(pose_keypoints, pose_scores, kpt_xy, kpt_scores, kpt_labels,
                  tol, pose_keypoint_scores)
    args = (pose_keypoints, pose_scores, kpt_xy, kpt_scores, kpt_labels,
            tol, pose_keypoint_scores)
    if all(a.is_cpu for a in args if isinstance(a, Tensor)):
        return _fuse_host(*args, person_score_thr)
    return _fuse_torch(*args, person_score_thr)


# ----------------------------------------------------------------- host path
def _np(t: Tensor) -> np.ndarray:
    """The CPU tensor's memory as an array (bfloat16, which numpy lacks, is
    converted to float32)."""
    if t.requires_grad:
        t = t.detach()
    return (t.float() if t.dtype == torch.bfloat16 else t).numpy()


def _fuse_host(pose_keypoints: Tensor, pose_scores: Tensor, kpt_xy: Tensor,
               kpt_scores: Tensor, kpt_labels: Tensor,
               tol: Union[float, Tensor],
               pose_keypoint_scores: Optional[Tensor],
               person_score_thr: float) -> FusionResult:
    """CPU tensors: :func:`fuse_keypoint_objects_np` on their memory."""
    dtype = pose_keypoints.dtype
    # the threshold is compared in the scores' dtype, as torch would
    persons = np.flatnonzero(
        (pose_scores > person_score_thr).numpy() if pose_scores.dtype ==
        torch.bfloat16 else _np(pose_scores) > person_score_thr)
    if isinstance(tol, Tensor):
        tol = _np(tol)
    kp, conf, src, rounds = fuse_keypoint_objects_np(
        _np(pose_keypoints), None, _np(kpt_xy), _np(kpt_scores),
        _np(kpt_labels), tol, person_score_thr,
        None if pose_keypoint_scores is None else _np(pose_keypoint_scores),
        persons=persons)

    def back(a: np.ndarray) -> Tensor:
        t = torch.from_numpy(a)
        return t if t.dtype == dtype else t.to(dtype)

    return FusionResult(back(kp), back(conf), torch.from_numpy(src), rounds)


def fuse_keypoint_objects_np(
        pose_keypoints: np.ndarray,
        pose_scores: Optional[np.ndarray],
        kpt_xy: np.ndarray,
        kpt_scores: np.ndarray,
        kpt_labels: np.ndarray,
        tol: Union[float, np.ndarray] = 50.0,
        person_score_thr: float = 0.3,
        pose_keypoint_scores: Optional[np.ndarray] = None,
        persons: Optional[np.ndarray] = None
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """:func:`fuse_keypoint_objects` on numpy arrays (its CPU path).

    The one fusion function of both inference paths: the head calls it
    (through :func:`fuse_keypoint_objects`) on CPU tensors, and the ONNX
    runner on the keypoint objects the exported graph outputs
    (:func:`posekit_plugins.deployment.onestage.postprocess_onestage`).
    Arguments as :func:`fuse_keypoint_objects`, as arrays; ``persons``
    (indices of the persons taking part) replaces ``pose_scores >
    person_score_thr`` when given.

    Returns:
        tuple: keypoints (P, K, 2) and keypoint confidences (P, K) in the
        dtype of ``pose_keypoints``, sources (P, K) int64 (-1: not fused),
        rounds.
    """
    kp = np.asarray(pose_keypoints)
    P, K = kp.shape[:2]
    lab = np.asarray(kpt_labels)
    M = len(lab)
    counts = None
    if M:
        if lab.dtype != np.intp:
            lab = lab.astype(np.intp)
        try:  # the range check for free: bincount refuses negatives
            counts = np.bincount(lab, minlength=K)
        except ValueError:
            counts = None
        if counts is None or len(counts) > K:
            _check_label_range(int(lab.min()), int(lab.max()), K)
    out_kp = kp.copy()
    if pose_keypoint_scores is None:
        out_conf = np.zeros((P, K), kp.dtype)
    else:
        out_conf = np.asarray(pose_keypoint_scores).astype(kp.dtype)
    out_src = np.full((P, K), -1, np.int64)
    if persons is None:
        persons = np.flatnonzero(np.asarray(pose_scores) > person_score_thr)
    rounds = 0
    if len(persons) and M:
        xy, conf = np.asarray(kpt_xy), np.asarray(kpt_scores)
        if isinstance(tol, (int, float)):
            tol = float(tol)
        else:  # a number, or the taking-part persons' (Q,)
            tol = np.asarray(tol, np.float64).reshape(-1)
            tol = float(tol[0]) if len(tol) == 1 else tol[persons]
        init = None if pose_keypoint_scores is None else \
            np.asarray(pose_keypoint_scores)[persons]
        rounds, obj, k, q = _rounds_np(kp[persons], init, xy, conf, lab,
                                       counts, tol)
        p = persons[q]
        out_kp[p, k] = xy[obj]
        out_conf[p, k] = conf[obj]
        out_src[p, k] = obj
    return out_kp, out_conf, out_src, rounds


def _rounds_np(kp: np.ndarray, init: Optional[np.ndarray], xy: np.ndarray,
               conf: np.ndarray, lab: np.ndarray, counts: np.ndarray,
               tol: Union[float, np.ndarray]
               ) -> Tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """The rounds on the taking-part persons, in numpy.

    Note:
        - taking-part persons: Q; keypoint types: K; keypoint objects: M
        - most objects of one type: L

    Args:
        kp (np.ndarray): (Q, K, 2) their pose keypoints.
        init (np.ndarray, optional): (Q, K) their initial confidences.
        xy (np.ndarray): (M, 2) keypoint-object positions.
        conf (np.ndarray): (M,) keypoint-object confidences.
        lab (np.ndarray): (M,) intp keypoint-object types.
        counts (np.ndarray): (K,) objects of each type.
        tol (float | np.ndarray): the tolerance, or (Q,) float64 ones.

    Returns:
        tuple: rounds, and for every overwritten keypoint (F of them) the
        object (F,), the type (F,) and the person (F,) (index into Q).
    """
    Q, K = kp.shape[:2]
    M = len(lab)
    f8 = np.float64
    if Q == 1:
        # One person: an object can only aim at its type's keypoint, and the
        # first one (in visiting order) that overwrites it stops the others
        # (none is more confident). So every object is decided against the
        # initial state, and per type the first that overwrites wins.
        ok = conf.astype(f8) > (0.0 if init is None else init[0, lab])
        d = kp[0].astype(f8)[lab] - xy  # (M, 2), float64
        d *= d
        ok &= np.sqrt(d[:, 0] + d[:, 1]) < (tol if isinstance(tol, float)
                                            else tol[0])
        obj = np.flatnonzero(ok)
        obj = obj[np.lexsort((-conf[obj], lab[obj]))]
        typ = lab[obj]
        first = np.ones(len(obj), bool)
        first[1:] = typ[1:] != typ[:-1]
        obj, typ = obj[first], typ[first]
        return 1, obj, typ, np.zeros(len(obj), np.intp)

    # state, (4, K, Q) one row per type: x, y, confidence and source (the
    # object's place in the list below, -1; float64 holds it exactly)
    state = np.empty((4, K, Q))
    state[:2] = kp.transpose(2, 1, 0)
    state[2] = 0.0 if init is None else init.T
    state[3] = -1.0
    L = int(counts.max())
    if L == 1:  # one object per type: independent, any order, one round
        obj, typ = np.arange(M), lab
    else:
        # visiting order (descending confidence, stable), grouped by type:
        # the i-th object of the list is obj[i], of type typ[i], and the
        # rank[i]-th of its type
        obj = np.lexsort((-conf, lab))
        typ = lab[obj]
        rank = np.arange(M) - (np.cumsum(counts) - counts)[typ]
    # (4, M) the objects in that order: x, y, confidence, place
    objs = np.empty((4, M))
    objs[:2] = xy[obj].T
    objs[2] = conf[obj]
    objs[3] = np.arange(M)
    if L > 1:
        # [k, t, l]: squared distance between objects t and l of type k, as
        # the nearest search of l sees a keypoint t moved
        pxy = np.zeros((2, K, L))
        pxy[:, typ, rank] = objs[:2]
        d = pxy[:, :, :, None] - pxy[:, :, None, :]
        d *= d
        pair2 = d[0] + d[1]
        before = np.triu(np.ones((L, L), bool), 1)

    pending = None  # all, in the first round
    rounds = 0
    while pending is None or len(pending):
        rounds += 1
        if pending is None:
            o, k = objs, typ
        else:
            o, k = objs[:, pending], typ[pending]
        # (N, Q) squared distances to the current keypoints, in the
        # original's float64 arithmetic: (keypoint - object)^2, x + y
        d2 = state[0][k] - o[0, :, None]
        dy = state[1][k] - o[1, :, None]
        d2 *= d2
        dy *= dy
        d2 += dy
        n = np.arange(len(k))
        j = d2.argmin(1)
        dmin2 = d2[n, j]
        if np.count_nonzero(d2 <= (dmin2 * _SLACK)[:, None]) != len(k):
            # a tie of squares or of norms: the norms decide, the first one
            # on ties (np.argmin over the original's norms)
            j = np.sqrt(d2).argmin(1)
            dmin2 = d2[n, j]
        take = o[2] > state[2][k, j]
        take &= np.sqrt(dmin2) < (tol if isinstance(tol, float) else tol[j])
        if L > 1 and len(k) > 1:
            # [k, t, l]: an overwrite by t this round could change l's
            # decision (same target, or t's new position at least as close
            # as l's nearest; norms compared through a superset of squares)
            r = rank if pending is None else rank[pending]
            tk = np.zeros((K, L), bool)
            tk[k, r] = take
            jk = np.full((K, L), -1, np.intp)
            jk[k, r] = j
            mk = np.zeros((K, L))
            mk[k, r] = dmin2 * _SLACK
            changes = tk[:, :, None] & before & (
                (jk[:, :, None] == jk[:, None, :]) |
                (tk[:, None, :] & (pair2 <= mk[:, None, :])))
            # commit each type up to (not including) its first affected one
            blocked = np.logical_or.accumulate(changes.any(1), axis=1)[k, r]
            take &= ~blocked
            pending = np.flatnonzero(blocked) if pending is None else \
                pending[blocked]
        else:
            pending = n[:0]
        state[:, k[take], j[take]] = o[:, take]
    k, q = np.nonzero(state[3] >= 0)
    return rounds, obj[state[3][k, q].astype(np.intp)], k, q


# --------------------------------------------------------------- torch path
def _fuse_torch(pose_keypoints: Tensor, pose_scores: Tensor, kpt_xy: Tensor,
                kpt_scores: Tensor, kpt_labels: Tensor,
                tol: Union[float, Tensor],
                pose_keypoint_scores: Optional[Tensor],
                person_score_thr: float) -> FusionResult:
    """The rounds in torch, on the tensors' device (see
    fuse_keypoint_objects)."""
    P, K = pose_keypoints.shape[:2]
    M = kpt_xy.shape[0]
    device, dtype = pose_keypoints.device, pose_keypoints.dtype
    # float64 as the original; MPS has no float64
    f8 = torch.float32 if device.type == 'mps' else torch.float64
    if M:
        lo, hi = torch.stack([kpt_labels.min(), kpt_labels.max()]).tolist()
        _check_label_range(lo, hi, K)
    keypoints = pose_keypoints.detach().clone()
    if pose_keypoint_scores is None:
        scores = pose_keypoints.new_zeros((P, K))
    else:
        scores = pose_keypoint_scores.detach().to(dtype, copy=True)
    sources = torch.full((P, K), -1, dtype=torch.long, device=device)
    persons = (pose_scores > person_score_thr).nonzero(as_tuple=True)[0]
    if persons.numel() == 0 or M == 0:
        return FusionResult(keypoints, scores, sources, 0)

    tol_t = (tol.detach().to(device, f8) if isinstance(tol, Tensor) else
             torch.as_tensor(np.asarray(tol, np.float64), device=device).to(f8))
    tol_q = tol_t.reshape(-1).expand(P)[persons]
    # state of the taking-part persons, one row per type: (K, Q)
    sub = pose_keypoints.detach()[persons].to(f8)
    kx, ky = sub[:, :, 0].T.contiguous(), sub[:, :, 1].T.contiguous()
    kc = (pose_keypoint_scores.detach()[persons].T.to(f8)
          if pose_keypoint_scores is not None else kx.new_zeros(kx.shape))
    ks = torch.full(kx.shape, -1, dtype=torch.long, device=device)

    # visiting order (descending confidence, stable), then grouped by type
    # keeping that order: object `obj[i]` sits at (typ[i], rank[i])
    order = torch.sort(kpt_scores.detach(), descending=True,
                       stable=True).indices
    lab = kpt_labels[order].long()
    by_type = torch.sort(lab, stable=True).indices
    obj, typ = order[by_type], lab[by_type]
    counts = torch.bincount(typ, minlength=K)
    rank = torch.arange(M, device=device) - (counts.cumsum(0) - counts)[typ]
    L = int(counts.max())
    pending = torch.zeros((K, L), dtype=torch.bool, device=device)
    pending[typ, rank] = True
    px = kx.new_zeros((K, L))
    py = kx.new_zeros((K, L))
    pc = kx.new_zeros((K, L))
    px[typ, rank] = kpt_xy.detach()[obj, 0].to(f8)
    py[typ, rank] = kpt_xy.detach()[obj, 1].to(f8)
    pc[typ, rank] = kpt_scores.detach()[obj].to(f8)
    src = torch.full((K, L), -1, dtype=torch.long, device=device)
    src[typ, rank] = obj
    # [k, t, l]: distance between objects t and l of type k, as the nearest
    # search of l sees a keypoint t moved
    dx = px[:, :, None] - px[:, None, :]
    dy = py[:, :, None] - py[:, None, :]
    pair = (dx * dx + dy * dy).sqrt()
    before = torch.ones((L, L), dtype=torch.bool, device=device).triu(1)
    qx, qy = px[:, :, None], py[:, :, None]  # (K, L, 1)

    rounds = 0
    while bool(pending.any()):
        rounds += 1
        # (K, L, Q) distances to the current keypoints, the original's
        # arithmetic; min takes the first person on ties, as np.argmin does
        dx = kx[:, None] - qx
        dy = ky[:, None] - qy
        dmin, j = (dx * dx + dy * dy).sqrt().min(-1)
        take = pending & (pc > kc.gather(1, j)) & (dmin < tol_q[j])
        # [k, t, l]: an overwrite by t this round could change l's decision
        changes = take[:, :, None] & before & (
            (j[:, :, None] == j[:, None, :]) |
            (take[:, None, :] & (pair <= dmin[:, None, :])))
        affected = changes.any(1) & pending
        # commit each type up to (not including) its first affected object
        commit = pending & ~affected.cummax(1).values
        kk, ll = (commit & take).nonzero(as_tuple=True)
        jj = j[kk, ll]
        kx[kk, jj] = px[kk, ll]
        ky[kk, jj] = py[kk, ll]
        kc[kk, jj] = pc[kk, ll]
        ks[kk, jj] = src[kk, ll]
        pending &= ~commit

    k, q = (ks >= 0).nonzero(as_tuple=True)
    o, p = ks[k, q], persons[q]
    keypoints[p, k] = kpt_xy.detach()[o].to(dtype)
    scores[p, k] = kpt_scores.detach()[o].to(dtype)
    sources[p, k] = o
    return FusionResult(keypoints, scores, sources, rounds)


# ---------------------------------------------------------------- reference
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
    equal): float64 state, Euclidean norm, ``np.argmin``. Returns
    ``(keypoints (P, K, 2), keypoint_scores (P, K), sources (P, K))``, all
    float64 but the sources (int64).
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
    order = np.argsort(-np.asarray(kpt_scores), kind='stable')
    for m in order:
        k = int(kpt_labels[m])
        x, y = float(kpt_xy[m][0]), float(kpt_xy[m][1])
        dist = np.linalg.norm(kps[persons, k] - np.array([x, y]), axis=-1)
        n = int(np.argmin(dist))
        p = persons[n]
        if float(kpt_scores[m]) > conf[p, k] and dist[n] < tol_p[p]:
            kps[p, k] = (x, y)
            conf[p, k] = kpt_scores[m]
            src[p, k] = m
    return kps, conf, src
