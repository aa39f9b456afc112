"""KAPAO fusion: hand-built scenes and equality with the sequential loop."""
import numpy as np
import pytest
import torch

from posekit_plugins.models.utils import (
    fuse_keypoint_objects,
    fuse_keypoint_objects_sequential,
    kapao_fusion,
)

# the two implementations behind fuse_keypoint_objects: numpy for CPU
# tensors, torch for other devices (tested here on CPU tensors)
PATHS = {'host': kapao_fusion._fuse_host, 'torch': kapao_fusion._fuse_torch}


def run_path(path, kp, ps, xy, sc, lab, tol=50.0, thr=0.3, init=None):
    return PATHS[path](kp, ps, xy, sc, lab, tol, init, thr)

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


@pytest.mark.parametrize('path', [None, 'host', 'torch'])
def test_vectorised_equals_the_sequential_loop_on_random_scenes(path):
    rng = np.random.default_rng(0)
    rounds = []
    for i in range(200 if path == 'torch' else 400):  # torch: slower
        kp, ps, objs, conf, lab, tol = random_scene(rng, dense=i % 2 == 0)
        args = [torch.from_numpy(a) for a in (kp, ps, objs, conf, lab)]
        tol_t = torch.from_numpy(tol) if isinstance(tol, np.ndarray) else tol
        if path is None:
            out = fuse_keypoint_objects(*args, tol=tol_t)
        else:
            out = run_path(path, *args, tol=tol_t)
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
    # both devices take the same decisions (float64 distances on both)
    if torch.cuda.is_available():
        cpu = fuse_keypoint_objects(*args, tol=50.0)
        gpu = fuse_keypoint_objects(*[a.cuda() for a in args], tol=50.0)
        for got, exp in zip(gpu[:3], cpu[:3]):
            assert torch.equal(got.cpu(), exp)


def realistic_scene(rng, P, K=17, size=1280.0, cap=300):
    """P persons above the threshold (and a few under it), ~90 % of their
    keypoints found as keypoint objects plus spurious ones, at most
    ``cap`` objects in descending confidence (the NMS output), float32."""
    n = P + P // 4 + 1
    centres = rng.uniform(100, size - 100, (n, 2))
    truth = centres[:, None] + rng.uniform(30, 150, (n, 1, 1)) * \
        rng.uniform(-1, 1, (n, K, 2))
    pose = truth + rng.normal(0, 6, truth.shape)
    ps = np.concatenate([rng.uniform(0.35, 1, P), rng.uniform(0, 0.3, n - P)])
    found = rng.random((P, K)) < 0.9
    xy = truth[:P][found] + rng.normal(0, 2, (int(found.sum()), 2))
    lab = np.nonzero(found)[1]
    sc = rng.uniform(0.3, 1, len(xy))
    extra = rng.poisson(2 * P)
    near = truth[:P].reshape(-1, 2)[rng.integers(0, P * K, extra)]
    xy = np.concatenate([xy, near + rng.normal(0, 25, (extra, 2))])
    lab = np.concatenate([lab, rng.integers(0, K, extra)])
    sc = np.concatenate([sc, rng.uniform(0.2, 0.6, extra)])
    keep = np.argsort(-sc, kind='stable')[:cap]
    f4 = np.float32
    return (pose.astype(f4), ps.astype(f4), xy[keep].astype(f4),
            sc[keep].astype(f4), lab[keep])


@pytest.mark.parametrize('persons', [1, 2, 10, 100])
def test_both_paths_equal_the_loop_on_realistic_scenes(persons):
    rng = np.random.default_rng(persons)
    for _ in range(10 if persons < 100 else 3):
        scene = realistic_scene(rng, persons)
        ref = fuse_keypoint_objects_sequential(*scene)
        args = [torch.from_numpy(a) for a in scene]
        for path in PATHS:
            out = run_path(path, *args)
            assert out.keypoints.dtype == torch.float32
            np.testing.assert_array_equal(out.keypoints.numpy(),
                                          ref[0].astype(np.float32))
            np.testing.assert_array_equal(out.keypoint_scores.numpy(),
                                          ref[1].astype(np.float32))
            np.testing.assert_array_equal(out.sources.numpy(), ref[2])
        # a realistic scene does fuse (most of its keypoint objects)
        assert (ref[2] >= 0).sum() >= 0.5 * len(scene[2])


def test_cpu_tensors_take_the_host_path(monkeypatch):

    def boom(*args):
        raise AssertionError('torch path used for CPU tensors')

    monkeypatch.setattr(kapao_fusion, '_fuse_torch', boom)
    rng = np.random.default_rng(3)
    scene = realistic_scene(rng, 4)
    args = [torch.from_numpy(a) for a in scene]
    args[0].requires_grad_(True)  # as from a model outside no_grad
    out = fuse_keypoint_objects(*args)
    assert (out.sources >= 0).any() and not out.keypoints.requires_grad


@pytest.mark.parametrize('path', list(PATHS))
def test_ties(path):
    # exact distance tie: the first person (among those taking part) wins
    kp = torch.tensor([[[0., 0.]], [[20., 0.]], [[-20., 0.]]])
    ps = torch.tensor([0.9, 0.9, 0.9])
    xy = torch.tensor([[10., 0.], [-10., 0.]])
    out = run_path(path, kp, ps, xy, torch.tensor([0.8, 0.7]),
                   torch.tensor([0, 0]))
    # the first object ties persons 0 and 1 and takes person 0; the second
    # then finds person 0's keypoint at 10 (20 px), person 2's at -20
    # (10 px): person 2
    assert out.sources[:, 0].tolist() == [0, -1, 1]
    # confidence tie: the given order decides who comes first
    xy = torch.tensor([[3., 0.], [1., 0.]])
    out = run_path(path, kp[:1], ps[:1], xy, torch.tensor([0.8, 0.8]),
                   torch.tensor([0, 0]))
    assert out.sources[0, 0] == 0 and out.keypoints[0, 0].tolist() == [3, 0]
    out = run_path(path, kp[:1], ps[:1], xy.flip(0),
                   torch.tensor([0.8, 0.8]), torch.tensor([0, 0]))
    assert out.sources[0, 0] == 0 and out.keypoints[0, 0].tolist() == [1, 0]


@pytest.mark.parametrize('path', list(PATHS))
def test_tie_of_norms_not_of_squares(path):
    # person 0's squared distance is one ulp larger than person 1's, but the
    # norms (what the original's np.linalg.norm + np.argmin compare) are
    # equal: the first person wins, as in the original
    a0 = [5.802057135359058, 13.097395084444427]
    a1 = [14.325, 0.0]
    assert a0[0]**2 + a0[1]**2 > a1[0]**2
    assert np.sqrt(a0[0]**2 + a0[1]**2) == np.sqrt(a1[0]**2)
    kp = torch.tensor([[a0], [a1]], dtype=torch.float64)
    args = (kp, torch.tensor([0.9, 0.9], dtype=torch.float64),
            torch.zeros((1, 2), dtype=torch.float64),
            torch.tensor([0.5], dtype=torch.float64), torch.tensor([0]))
    out = run_path(path, *args)
    assert out.sources[:, 0].tolist() == [0, -1]
    ref = fuse_keypoint_objects_sequential(*[a.numpy() for a in args])
    assert ref[2][:, 0].tolist() == [0, -1]
    # a third person (more than one taking part matters for the host path)
    kp3 = torch.cat([kp, kp[1:] + 100])
    out = run_path(path, kp3, torch.full((3, ), 0.9, dtype=torch.float64),
                   *args[2:])
    assert out.sources[:, 0].tolist() == [0, -1, -1]


@pytest.mark.parametrize('path', list(PATHS))
def test_half_precision_inputs_use_float64_distances(path):
    # squared distances of 280 and 320 px overflow float16 (max 65504): a
    # float16 computation would see two infinities and take person 0
    kp = torch.tensor([[[0., 0.]], [[600., 0.]]], dtype=torch.float16)
    ps = torch.tensor([0.9, 0.9], dtype=torch.float16)
    xy = torch.tensor([[320., 0.]], dtype=torch.float16)
    sc = torch.tensor([0.5], dtype=torch.float16)
    lab = torch.tensor([0])
    out = run_path(path, kp, ps, xy, sc, lab, tol=1000.0)
    assert out.sources[:, 0].tolist() == [-1, 0]
    assert out.keypoints.dtype == out.keypoint_scores.dtype == torch.float16
    assert out.keypoints[1, 0].tolist() == [320, 0]
    # random scenes in float16 and bfloat16: the loop on the same values
    rng = np.random.default_rng(5)
    for dtype in (torch.float16, torch.bfloat16):
        for i in range(40):
            kp, ps, objs, conf, lab, tol = random_scene(rng, dense=i % 2 == 0)
            # person scores off the threshold (compared in their own dtype,
            # float64 in the loop: see the next test)
            ps = np.where(abs(ps - 0.3) < 0.01, 0.5, ps)
            args = [torch.from_numpy(a).to(dtype) for a in (kp, ps, objs,
                                                             conf)]
            args.append(torch.from_numpy(lab))
            tol = float(np.max(tol))
            out = run_path(path, *args, tol=tol)
            ref = fuse_keypoint_objects_sequential(
                *[a.double().numpy() for a in args[:4]], lab, tol)
            np.testing.assert_array_equal(out.sources.numpy(), ref[2])
            assert torch.equal(out.keypoints,
                               torch.from_numpy(ref[0]).to(dtype))
            assert torch.equal(out.keypoint_scores,
                               torch.from_numpy(ref[1]).to(dtype))


@pytest.mark.parametrize('path', list(PATHS))
@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
def test_person_threshold_in_the_scores_dtype(path, dtype):
    # 0.3 rounded to the scores' dtype is not above 0.3 (rounded alike), as
    # numpy/torch compare a low-precision array with a Python float
    kp = torch.tensor([[[0., 0.]], [[100., 0.]]], dtype=dtype)
    ps = torch.tensor([0.3, 0.9], dtype=dtype)
    xy = torch.tensor([[1., 0.], [99., 0.]], dtype=dtype)
    out = run_path(path, kp, ps, xy, torch.tensor([0.5, 0.5], dtype=dtype),
                   torch.tensor([0, 0]))
    assert out.sources[:, 0].tolist() == [-1, 1]


@pytest.mark.parametrize('path', list(PATHS))
def test_initial_scores_and_per_person_tolerance(path):
    rng = np.random.default_rng(7)
    for i in range(60):
        kp, ps, objs, conf, lab, _ = random_scene(rng, dense=i % 2 == 0)
        P, Kr = kp.shape[:2]
        init = np.round(rng.uniform(0, 1, (P, Kr)), 1)
        tol = rng.uniform(5, 80, P)
        args = [torch.from_numpy(a) for a in (kp, ps, objs, conf, lab)]
        out = run_path(path, *args, tol=torch.from_numpy(tol),
                       init=torch.from_numpy(init))
        ref = fuse_keypoint_objects_sequential(
            kp, ps, objs, conf, lab, tol, pose_keypoint_scores=init)
        for got, exp in zip(out[:3], ref):
            np.testing.assert_array_equal(got.numpy(), exp, err_msg=str(i))
