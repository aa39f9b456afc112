"""KAPAO fusion: hand-built scenes and equality with the sequential loop."""
import numpy as np
import pytest
import torch

from posekit_plugins.models.utils import (
    fuse_keypoint_objects,
    fuse_keypoint_objects_sequential,
)

K = 3


def scene(persons, scores, objects):
    """persons: list of K (x, y); objects: list of (x, y, conf, type)."""
    kp = torch.tensor(persons, dtype=torch.float64).reshape(-1, K, 2)
    ps = torch.tensor(scores, dtype=torch.float64)
    ob = torch.tensor(objects, dtype=torch.float64).reshape(-1, 4)
    return kp, ps, ob[:, :2], ob[:, 2], ob[:, 3].long()


def fuse(persons, scores, objects, **kwargs):
    kp, ps, xy, sc, lab = scene(persons, scores, objects)
    out = fuse_keypoint_objects(kp, ps, xy, sc, lab, **kwargs)
    # every hand-built scene also goes through the reference loop
    ref = fuse_keypoint_objects_sequential(
        kp.numpy(), ps.numpy(), xy.numpy(), sc.numpy(), lab.numpy(),
        **{k: (v.numpy() if isinstance(v, torch.Tensor) else v)
           for k, v in kwargs.items()})
    for got, exp in zip(out[:3], ref):
        np.testing.assert_array_equal(got.numpy(), exp)
    return out


P0 = [(0, 0), (100, 0), (200, 0)]
P1 = [(0, 300), (100, 300), (200, 300)]


def test_overwrite_position_and_confidence():
    out = fuse([P0], [0.9], [(104, 3, 0.7, 1)])
    assert out.keypoints[0, 1].tolist() == [104, 3]
    assert out.keypoint_scores[0].tolist() == [0, 0.7, 0]
    assert out.sources[0].tolist() == [-1, 0, -1]
    # the other keypoints keep their position and confidence 0
    assert out.keypoints[0, [0, 2]].tolist() == [[0, 0], [200, 0]]


def test_lower_confidence_keeps_the_pose_keypoint():
    init = torch.tensor([[0.5, 0.8, 0.5]], dtype=torch.float64)
    out = fuse([P0], [0.9], [(104, 3, 0.7, 1), (3, 4, 0.7, 0)],
               pose_keypoint_scores=init)
    assert out.keypoints[0, 1].tolist() == [100, 0]  # 0.7 < 0.8
    assert out.keypoint_scores[0, 1] == 0.8
    assert out.keypoints[0, 0].tolist() == [3, 4]  # 0.7 > 0.5
    # equal confidence does not overwrite (strictly greater)
    out = fuse([P0], [0.9], [(104, 3, 0.8, 1)], pose_keypoint_scores=init)
    assert out.keypoints[0, 1].tolist() == [100, 0]


def test_beyond_tolerance_keeps_the_pose_keypoint():
    objs = [(100, 50, 0.9, 1)]  # 50 px away
    assert fuse([P0], [0.9], objs, tol=50.0).sources[0, 1] == -1
    assert fuse([P0], [0.9], objs, tol=50.01).sources[0, 1] == 0
    # per-person tolerance (e.g. relative to the person's size)
    objs = [(100, 40, 0.9, 1), (100, 260, 0.9, 1)]
    out = fuse([P0, P1], [0.9, 0.9], objs,
               tol=torch.tensor([30.0, 45.0], dtype=torch.float64))
    assert out.sources[:, 1].tolist() == [-1, 1]
    # only the nearest person is tried, even if it is out of tolerance and
    # another one would be within its own
    out = fuse([P0, P1], [0.9, 0.9], [(100, 140, 0.9, 1)],
               tol=torch.tensor([120.0, 500.0], dtype=torch.float64))
    assert out.sources[:, 1].tolist() == [-1, -1]


def test_persons_under_the_score_threshold_are_untouched():
    objs = [(101, 2, 0.9, 1), (99, 299, 0.9, 1)]
    out = fuse([P0, P1], [0.3, 0.31], objs, tol=1000.0)
    # person 0 (0.3, not above 0.3) is skipped: both objects go to the
    # nearest person taking part, the first (order of confidence, then
    # input) wins, the second finds its moved keypoint and loses the tie
    assert out.keypoints[0].tolist() == [list(p) for p in P0]
    assert out.keypoint_scores[0].tolist() == [0, 0, 0]
    assert out.sources[1].tolist() == [-1, 0, -1]
    assert out.keypoints[1, 1].tolist() == [101, 2]
    # no person above the threshold: nothing happens, 0 rounds
    out = fuse([P0, P1], [0.1, 0.2], objs)
    assert out.rounds == 0 and (out.sources == -1).all()
    out = fuse([P0, P1], [0.1, 0.2], objs, person_score_thr=0.15)
    assert out.sources[:, 1].tolist() == [-1, 1]


def test_two_keypoint_objects_racing_for_one_keypoint():
    # the more confident object wins even though it is farther
    out = fuse([P0], [0.9], [(110, 0, 0.6, 1), (130, 0, 0.95, 1)])
    assert out.keypoints[0, 1].tolist() == [130, 0]
    assert out.sources[0, 1] == 1 and out.keypoint_scores[0, 1] == 0.95
    # the loser is compared against the new confidence (0.95), not 0
    # the keypoint moved: the nearest search sees its new position. Persons
    # at x = 0 and 30 (type 0); the first object (x = 10) takes person 0's
    # keypoint, moving it to 10; the second (x = 17) is then nearest to that
    # moved keypoint (7 px, vs 13 px to person 1) and loses on confidence.
    # Searching the original positions would have given it person 1.
    a = [(0, 0), (500, 0), (900, 0)]
    b = [(30, 0), (600, 0), (950, 0)]
    out = fuse([a, b], [0.9, 0.9], [(10, 0, 0.9, 0), (17, 0, 0.8, 0)])
    assert out.sources[:, 0].tolist() == [0, -1]
    assert out.keypoints[1, 0].tolist() == [30, 0]
    # ... and the reverse: an object whose nearest was overwritten may now
    # reach another person (first object moves person 0's keypoint away)
    out = fuse([a, b], [0.9, 0.9], [(-20, 0, 0.9, 0), (12, 0, 0.8, 0)])
    assert out.sources[:, 0].tolist() == [0, 1]


def test_no_keypoint_objects_and_no_persons():
    kp, ps, *_ = scene([P0, P1], [0.9, 0.9], [])
    empty = torch.zeros((0, 2), dtype=torch.float64)
    out = fuse_keypoint_objects(kp, ps, empty, empty[:, 0],
                                torch.zeros(0, dtype=torch.long))
    assert torch.equal(out.keypoints, kp) and out.rounds == 0
    assert (out.keypoint_scores == 0).all() and (out.sources == -1).all()
    # the output does not alias the input
    out.keypoints[0, 0, 0] = 123.0
    assert kp[0, 0, 0] == 0
    _, _, xy, sc, lab = scene([P0], [0.9], [(1, 1, 0.9, 0)])
    out = fuse_keypoint_objects(
        torch.zeros((0, K, 2), dtype=torch.float64),
        torch.zeros(0, dtype=torch.float64), xy, sc, lab)
    assert out.keypoints.shape == (0, K, 2) and out.sources.shape == (0, K)


def test_bad_input_is_rejected():
    kp, ps, xy, sc, lab = scene([P0], [0.9], [(1, 1, 0.9, 0)])
    with pytest.raises(ValueError, match=r'\[0, 3\)'):
        fuse_keypoint_objects(kp, ps, xy, sc, lab + K)
    with pytest.raises(TypeError, match='integer'):
        fuse_keypoint_objects(kp, ps, xy, sc, lab.double())
    with pytest.raises(ValueError, match='pose_scores'):
        fuse_keypoint_objects(kp, ps[:0], xy, sc, lab)
    with pytest.raises(ValueError, match='tol'):
        fuse_keypoint_objects(kp, ps, xy, sc, lab, tol=torch.ones(2))


def random_scene(rng, dense):
    P, Kr = int(rng.integers(1, 12)), int(rng.integers(1, 6))
    M = int(rng.integers(0, 60))
    span = 60.0 if dense else 600.0
    kp = rng.uniform(0, span, (P, Kr, 2))
    objs = rng.uniform(0, span, (M, 2))
    if rng.random() < 0.5:  # lattice positions: exact distance ties
        kp, objs = np.round(kp / 10) * 10, np.round(objs / 10) * 10
    conf = rng.uniform(0.2, 1.0, M)
    if rng.random() < 0.5:  # confidence ties
        conf = np.round(conf, 1)
    tol = rng.uniform(5, 80, P) if rng.random() < 0.3 else \
        float(rng.choice([20.0, 50.0, 1e6]))
    return (kp, rng.uniform(0, 1, P), objs, conf, rng.integers(0, Kr, M),
            tol)


def test_vectorised_equals_the_sequential_loop_on_random_scenes():
    rng = np.random.default_rng(0)
    rounds = []
    for i in range(400):
        kp, ps, objs, conf, lab, tol = random_scene(rng, dense=i % 2 == 0)
        out = fuse_keypoint_objects(
            torch.from_numpy(kp), torch.from_numpy(ps),
            torch.from_numpy(objs), torch.from_numpy(conf),
            torch.from_numpy(lab),
            tol=torch.from_numpy(tol) if isinstance(tol, np.ndarray) else tol)
        ref = fuse_keypoint_objects_sequential(kp, ps, objs, conf, lab, tol)
        for got, exp in zip(out[:3], ref):
            np.testing.assert_array_equal(got.numpy(), exp, err_msg=str(i))
        rounds.append(out.rounds)
    # crowded scenes exercised the multi-round (conflict) path
    assert max(rounds) >= 3


def test_float32_and_cuda():
    rng = np.random.default_rng(1)
    kp, ps, objs, conf, lab, _ = random_scene(rng, dense=False)
    args = [torch.from_numpy(a) for a in (kp, ps, objs, conf, lab)]
    ref = fuse_keypoint_objects(*args, tol=50.0)
    devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    for dev in devices:
        out = fuse_keypoint_objects(
            *[a.to(dev).float() if a.is_floating_point() else a.to(dev)
              for a in args], tol=50.0)
        assert out.keypoints.dtype == torch.float32
        assert out.keypoints.device.type == dev
        torch.testing.assert_close(out.keypoints.cpu().double(),
                                   ref.keypoints, atol=1e-4, rtol=0)
        assert torch.equal(out.sources.cpu(), ref.sources)
