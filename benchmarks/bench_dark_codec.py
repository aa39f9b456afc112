"""DARKHeatmap vs mmpose's MSRAHeatmap(unbiased=True): decode and encode time.

Both codecs run in the same process on the same data: B top-down instances,
K = 17 keypoints, 64x48 heatmaps, input 256x192, sigma 2, blur kernel 11.
The heatmaps are the unbiased Gaussian targets of random keypoints (kept
2 pixels inside the map) plus Gaussian noise (std 0.01), so that every
keypoint is refined and the Taylor step is not trivial.

Rows:

- ``decode``: mmpose decodes one instance per call, as its heads do (a loop
  over the batch); ours ``batch_decode`` on the (B, K, H, W) tensor, which
  mmpose's heads call when the codec supports it, and, for a like-for-like
  view, ``decode`` in the same per-instance loop. The disagreement is the
  largest coordinate difference to mmpose's keypoints, in heatmap pixels.
- ``encode``: one ``encode`` call per instance (top-down data pipeline),
  both codecs; the disagreement is the largest heatmap difference.
- ``encode (1 image, N=B)``: a bottom-up image with B people in one call;
  mmpose's ``MSRAHeatmap`` rejects N > 1, so the baseline is the function it
  calls, ``generate_unbiased_gaussian_heatmaps``.

Times are the median and the minimum over ``--repeat`` rounds after one
warm-up, in ms; the compared functions alternate within each round. On a
shared, loaded machine the minimum is the better estimate of the cost.

    python benchmarks/bench_dark_codec.py [--batch-sizes 32 256]
        [--repeat 7] [--threads 1]
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import cv2
import numpy as np
import torch
from mmpose.codecs import MSRAHeatmap
from mmpose.codecs.utils.gaussian_heatmap import generate_unbiased_gaussian_heatmaps

# measure the working tree, not an installed copy of the package
sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from posekit_plugins.codecs import DARKHeatmap  # noqa: E402

INPUT_SIZE = (192, 256)
HEATMAP_SIZE = (48, 64)
SIGMA = 2
BLUR = 11
K = 17


def _median_ms(fns, repeat: int) -> list:
    """(median, min) wall time in ms of each function; the functions
    alternate in every round so that a changing machine load hits them
    alike."""
    for fn in fns:
        fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [(statistics.median(ts) * 1e3, min(ts) * 1e3) for ts in times]


def _data(batch: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    W, H = HEATMAP_SIZE
    scale = np.array(INPUT_SIZE) / np.array(HEATMAP_SIZE)
    mu = rng.uniform((2, 2), (W - 3, H - 3), size=(batch, K, 2))
    keypoints = (mu * scale).astype(np.float32)  # input space
    visible = np.ones((batch, K), dtype=np.float32)
    heatmaps = np.stack([
        generate_unbiased_gaussian_heatmaps(HEATMAP_SIZE, mu[b:b + 1],
                                            visible[b:b + 1], SIGMA)[0]
        for b in range(batch)
    ])
    heatmaps += rng.normal(0, 0.01, heatmaps.shape).astype(np.float32)
    return keypoints, visible, heatmaps


def _bench(B: int, ref: MSRAHeatmap, ours: DARKHeatmap,
           repeat: int) -> list:
    """Rows (operation, B, mmpose ms, ours ms, max disagreement)."""
    keypoints, visible, heatmaps = _data(B)
    batch = torch.from_numpy(heatmaps)
    scale = float(ref.scale_factor[0])
    rows = []

    # decode
    ref_kpts = np.concatenate([ref.decode(hm)[0] for hm in heatmaps])
    ours_kpts = np.concatenate(ours.batch_decode(batch)[0])
    loop_kpts = np.concatenate([ours.decode(hm)[0] for hm in heatmaps])
    t_ref, t_batch, t_loop = _median_ms([
        lambda: [ref.decode(hm) for hm in heatmaps],
        lambda: ours.batch_decode(batch),
        lambda: [ours.decode(hm) for hm in heatmaps],
    ], repeat)
    rows.append(('decode: batch_decode', B, t_ref, t_batch,
                 np.abs(ours_kpts - ref_kpts).max() / scale))
    rows.append(('decode: decode per instance', B, t_ref, t_loop,
                 np.abs(loop_kpts - ref_kpts).max() / scale))

    # top-down encode, one instance per call
    def enc_ref():
        return [ref.encode(keypoints[b:b + 1], visible[b:b + 1])
                for b in range(B)]

    def enc_ours():
        return [ours.encode(keypoints[b:b + 1], visible[b:b + 1])
                for b in range(B)]

    diff = max(
        np.abs(a['heatmaps'] - b['heatmaps']).max()
        for a, b in zip(enc_ref(), enc_ours()))
    rows.append(('encode per instance', B,
                 *_median_ms([enc_ref, enc_ours], repeat), diff))

    # bottom-up encode: B people in one image
    mu = keypoints / ref.scale_factor

    def enc_ref_bu():
        return generate_unbiased_gaussian_heatmaps(HEATMAP_SIZE, mu, visible,
                                                   SIGMA)

    def enc_ours_bu():
        return ours.encode(keypoints, visible)

    diff = np.abs(enc_ref_bu()[0] - enc_ours_bu()['heatmaps']).max()
    rows.append((f'encode (1 image, N={B})', B,
                 *_median_ms([enc_ref_bu, enc_ours_bu], repeat), diff))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--batch-sizes', type=int, nargs='+',
                        default=[32, 256])
    parser.add_argument('--repeat', type=int, default=7)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch and OpenCV threads; 0 keeps the defaults')
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    ref = MSRAHeatmap(INPUT_SIZE, HEATMAP_SIZE, SIGMA, unbiased=True,
                      blur_kernel_size=BLUR)
    ours = DARKHeatmap(INPUT_SIZE, HEATMAP_SIZE, SIGMA, blur_kernel_size=BLUR)

    import posekit_plugins
    print(f'posekit_plugins from {osp.dirname(posekit_plugins.__file__)}')
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()} '
          f'(torch) / {cv2.getNumThreads()} (OpenCV); K={K}, heatmaps '
          f'{HEATMAP_SIZE[1]}x{HEATMAP_SIZE[0]}, input '
          f'{INPUT_SIZE[1]}x{INPUT_SIZE[0]}, sigma {SIGMA}, kernel {BLUR}')
    rows = []
    for B in args.batch_sizes:
        rows += _bench(B, ref, ours, args.repeat)

    print()
    print('| operation | B | mmpose ms, median (min) | ours ms, median (min) '
          '| speed-up, median (min) | max disagreement |')
    print('|---|---:|---:|---:|---:|---|')
    for name, B, (ref_med, ref_min), (our_med, our_min), diff in rows:
        unit = 'heatmap px' if name.startswith('decode') else 'heatmap value'
        print(f'| {name} | {B} | {ref_med:.2f} ({ref_min:.2f}) | '
              f'{our_med:.2f} ({our_min:.2f}) | {ref_med / our_med:.1f}x '
              f'({ref_min / our_min:.1f}x) | {diff:.2e} {unit} |')


if __name__ == '__main__':
    main()
