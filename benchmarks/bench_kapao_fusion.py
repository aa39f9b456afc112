"""KAPAO fusion: ``fuse_keypoint_objects`` against the original's loop.

The original (KAPAO's ``val.py``, ``post_process_batch`` with
``use_kp_dets``) fuses keypoint objects one at a time in a Python loop over
numpy arrays. :func:`original_loop` below restates that algorithm (not its
code): the pose keypoints get a float64 confidence column at 0; the persons
scoring above 0.3 are copied out; every keypoint object, in the order NMS
returned them (descending confidence), takes the Euclidean norm to its
type's keypoint of each of those persons (``np.linalg.norm``), the nearest
(``np.argmin``) and overwrites it with ``[x, y, conf]`` when more confident
and closer than the tolerance; the persons are written back. Two ways of
running it are timed:

- ``numpy loop``: over numpy arrays (the float32 CPU arrays of the inputs,
  conversion not timed), the cheapest form of the loop: the reference ours
  must beat;
- ``val.py rows``: as ``val.py`` runs it, unpacking the rows of a CPU tensor
  of keypoint-object boxes ``(x1, y1, x2, y2, conf, cls)`` and taking each
  box centre with ``np.mean`` (the head passes the same centres).

Scenes (1280 x 1280 input, 17 keypoint types): P persons scoring in
(0.35, 1), plus P // 4 + 1 pose objects under the 0.3 threshold (NMS keeps
such low-score poses; they do not take part); pose keypoints 6 px off the
truth; each true keypoint found as a keypoint object with probability 0.9
(2 px off, confidence in (0.3, 1)), plus on average 2 spurious objects per
person (random type, 25 px around a random keypoint, confidence in
(0.2, 0.6)); at most 300 objects (the keypoint NMS cap), in descending
confidence as NMS returns them. That is 16-17 objects for one person and
the cap from about 20 persons on. Inputs are float32 tensors, as the head
passes them.

Every call of ours and of the loops gives the same keypoints and
confidences (checked before timing, against the loop and the package's
reference ``fuse_keypoint_objects_sequential``). The calls alternate
(ours, numpy loop, val.py rows, ours, ...) so that load on a shared machine
slows them alike; the table gives median times and ``loop / ours``.

    python benchmarks/bench_kapao_fusion.py [--persons 1 10 100]
        [--repeats 200] [--threads 1] [--device cpu|cuda] [--seed 0]

The module is loaded from its file (it needs only torch and numpy), so the
benchmark runs without mmcv/mmpose. ``--device cuda`` times ours on CUDA
tensors (the torch path; synchronised) against the loops on the host.
"""
import argparse
import importlib.util
import os.path as osp
import statistics
import time

import numpy as np
import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
K = 17
TOL = 50.0  # px, val.py's overwrite_tol
THR = 0.3  # val.py's conf_thres_kp_person


def load_fusion():
    """posekit_plugins/models/utils/kapao_fusion.py, without the package
    (whose import registers everything into mmpose)."""
    path = osp.join(ROOT, 'posekit_plugins', 'models', 'utils',
                    'kapao_fusion.py')
    spec = importlib.util.spec_from_file_location('kapao_fusion', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_scene(rng, P, size=1280, cap=300):
    """Float32 arrays: pose keypoints (P', K, 2), pose scores (P',),
    keypoint-object boxes (M, 4) and their centres (M, 2), scores (M,) and
    types (M,), objects in descending score."""
    low = P // 4 + 1
    n = P + low
    centres = rng.uniform(100, size - 100, (n, 2))
    scale = rng.uniform(30, 150, (n, 1, 1))
    truth = centres[:, None] + scale * rng.uniform(-1, 1, (n, K, 2))
    pose = truth + rng.normal(0, 6, truth.shape)
    pose_scores = np.concatenate(
        [rng.uniform(0.35, 1.0, P), rng.uniform(0.01, 0.3, low)])
    truth = truth[:P]
    found = rng.random((P, K)) < 0.9
    xy = truth[found] + rng.normal(0, 2, (int(found.sum()), 2))
    labels = np.nonzero(found)[1]
    scores = rng.uniform(0.3, 1.0, len(xy))
    n_spurious = rng.poisson(2 * P)
    near = truth.reshape(-1, 2)[rng.integers(0, P * K, n_spurious)]
    xy = np.concatenate([xy, near + rng.normal(0, 25, (n_spurious, 2))])
    labels = np.concatenate([labels, rng.integers(0, K, n_spurious)])
    scores = np.concatenate([scores, rng.uniform(0.2, 0.6, n_spurious)])
    keep = np.argsort(-scores, kind='stable')[:cap]
    xy, scores, labels = xy[keep], scores[keep], labels[keep]
    # boxes around the centres (side ~ 5 % of the input, as KAPAO's), and
    # the centres as the head computes them from the boxes (float32)
    half = rng.uniform(20, 44, (len(xy), 1))
    boxes = np.concatenate([xy - half, xy + half], 1).astype(np.float32)
    centres = (torch.from_numpy(boxes[:, :2]) +
               torch.from_numpy(boxes[:, 2:])) / 2
    f4 = np.float32
    return (pose.astype(f4), pose_scores.astype(f4), boxes, centres.numpy(),
            scores.astype(f4), labels.astype(np.int64))


def original_loop(pose, pose_scores, xy, scores, labels, tol=TOL, thr=THR):
    """val.py's fusion algorithm on numpy arrays, objects in the given order.

    Returns (P, K, 3) float64: x, y, confidence (0 where nothing fused).
    """
    P = pose.shape[0]
    poses = np.concatenate((pose, np.zeros((P, K, 1))), axis=-1)
    keep = pose_scores > thr
    taking = poses[keep]  # a copy, written back at the end
    if len(taking):
        for (x, y), conf, k in zip(xy, scores, labels):
            kps = taking[:, k]  # a view: overwrites land in `taking`
            dist = np.linalg.norm(kps[:, :2] - np.array([[x, y]]), axis=-1)
            n = np.argmin(dist)
            if conf > kps[n, 2] and dist[n] < tol:
                kps[n] = [x, y, conf]
        poses[keep] = taking
    return poses


def original_loop_rows(pose, pose_scores, kpd, tol=TOL, thr=THR):
    """The same algorithm fed as val.py feeds it: the rows of a CPU tensor
    ``(x1, y1, x2, y2, conf, cls)`` (cls = type + 1), centres by np.mean."""
    P = pose.shape[0]
    poses = np.concatenate((pose, np.zeros((P, K, 1))), axis=-1)
    keep = pose_scores > thr
    taking = poses[keep]
    if len(taking):
        for x1, y1, x2, y2, conf, cls in kpd:
            x, y = np.mean((x1, x2)), np.mean((y1, y2))
            kps = taking[:, int(cls - 1)]
            dist = np.linalg.norm(kps[:, :2] - np.array([[x, y]]), axis=-1)
            n = np.argmin(dist)
            if conf > kps[n, 2] and dist[n] < tol:
                kps[n] = [x, y, conf]
        poses[keep] = taking
    return poses


def bench(persons, repeats, device, seed):
    fusion = load_fusion()
    rng = np.random.default_rng(seed)
    sync = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    rows = []
    for P in persons:
        pose, ps, boxes, xy, sc, lab = make_scene(rng, P)
        kpd = torch.from_numpy(np.concatenate(
            [boxes, sc[:, None], lab[:, None] + 1.0], 1).astype(np.float32))
        args = [torch.from_numpy(a).to(device) for a in (pose, ps, xy, sc,
                                                         lab)]

        def ours(args=args):
            out = fusion.fuse_keypoint_objects(*args, tol=TOL,
                                               person_score_thr=THR)
            sync()
            return out

        def loop(a=(pose, ps, xy, sc, lab)):
            return original_loop(*a)

        def loop_rows(a=(pose, ps, kpd)):
            return original_loop_rows(*a)

        # the same result, bit for bit
        out = ours()
        ref = loop()
        assert np.array_equal(out.keypoints.cpu().numpy(),
                              ref[..., :2].astype(np.float32)), P
        assert np.array_equal(out.keypoint_scores.cpu().numpy(),
                              ref[..., 2].astype(np.float32)), P
        assert np.array_equal(loop_rows(), ref), P
        seq = fusion.fuse_keypoint_objects_sequential(pose, ps, xy, sc, lab,
                                                      TOL, THR)
        assert np.array_equal(out.sources.cpu().numpy(), seq[2]), P
        assert np.array_equal(seq[0], ref[..., :2]), P

        fns = (ours, loop, loop_rows)
        times = [[] for _ in fns]
        for _ in range(3):  # warm-up
            for fn in fns:
                fn()
        for i in range(repeats):
            # the slow val.py rows every 4th turn only
            for fn, t in zip(fns, times):
                if fn is loop_rows and i % 4:
                    continue
                t0 = time.perf_counter()
                fn()
                t.append(time.perf_counter() - t0)
        t_ours, t_loop, t_rows = (statistics.median(t) * 1e3 for t in times)
        rows.append((P, int((ps > THR).sum()), len(xy),
                     int(np.bincount(lab, minlength=K).max()), out.rounds,
                     t_ours, t_loop, t_rows))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--persons', type=int, nargs='+',
                        default=[1, 10, 100])
    parser.add_argument('--repeats', type=int, default=200)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch CPU threads (1: stable on shared cores)')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f'torch {torch.__version__}, numpy {np.__version__}, '
          f'{args.threads} thread(s), ours on {args.device}')
    rows = bench(args.persons, args.repeats, args.device, args.seed)
    print('\nFusion, median ms per image (results identical)')
    print('| persons (taking part) | pose objects | keypoint objects '
          '| most of one type | rounds | ours | numpy loop | speed-up '
          '| val.py rows | speed-up |')
    print('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|')
    for P, Q, M, L, r, t_ours, t_loop, t_rows in rows:
        print(f'| {Q} | {P + P // 4 + 1} | {M} | {L} | {r} | {t_ours:.3f} '
              f'| {t_loop:.3f} | {t_loop / t_ours:.1f}x | {t_rows:.3f} '
              f'| {t_rows / t_ours:.1f}x |')


if __name__ == '__main__':
    main()
