"""Forward time of our YOLO-Pose / KAPAO s6 models against the originals'.

    python benchmarks/bench_onestage_forward.py \
        --yolopose PATH/edgeai-yolov5 --kapao PATH/kapao \
        [--sizes 640 960 1280] [--repeat 5] [--threads 2]

Needs checkouts of the original repositories (edgeai-yolov5 branch
yolo-pose; wmcnally/kapao; GPL-3.0, not part of this package) with their
Python requirements importable (see ``tools/make_onestage_fixtures.py``).
Each original runs in its own process (both have top-level ``models`` and
``utils`` packages). There the original s6 model is built with random
weights, its state dict converted into our paper config's model
(``posekit_plugins.utils.convert_yolov5_checkpoint``), the two are checked to
give the same decoded outputs, and their forward passes (network plus the
decoding of every anchor, batch 1, CPU, fp32) are timed alternately in the
same process: unfused, and with conv + BN fused (the original's
``attempt_load`` fuses; mmcv's ``fuse_conv_bn`` does it for ours). Prints a
Markdown table with the ratio ours / original of the medians.
"""
import argparse
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = {
    'yolopose': 'configs/yolopose_s6_4xb16-300e_coco-960.py',
    'kapao': 'configs/kapao_s6_4xb32-500e_coco-1280.py',
}


def _original_model(arch: str, repo: str):
    """The original s6 model, random weights, eval mode."""
    import yaml
    from models.yolo import Model  # the original's, from ``repo``
    if arch == 'yolopose':
        with open(osp.join(repo, 'models/hub/yolov5s6_kpts.yaml')) as f:
            cfg = yaml.safe_load(f)
        cfg['dw_conv_kpt'] = True
        model = Model(cfg, nc=1)
    else:
        with open(osp.join(repo, 'models/yolov5s6.yaml')) as f:
            cfg = yaml.safe_load(f)
        model = Model(cfg, nc=18, num_coords=34)
    return model.float().eval()


def _ms(fn, x) -> float:
    t = time.perf_counter()
    fn(x)
    return (time.perf_counter() - t) * 1e3


def worker(arch: str, repo: str, sizes, repeat: int, threads: int) -> dict:
    """Build both models, check they agree, time them; runs in a child."""
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    sys.path.insert(0, repo)
    orig = _original_model(arch, repo)
    # conv + BN statistics that are not the identity, so the fused and the
    # unfused paths really differ in what they compute
    for m in orig.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    sys.path.remove(repo)
    sys.path.insert(0, ROOT)
    from mmcv.cnn import fuse_conv_bn

    import posekit_plugins  # noqa: F401
    from posekit_plugins.utils import convert_yolov5_checkpoint
    from posekit_plugins.utils.yolov5_convert import build_pose_model

    cfg = osp.join(ROOT, CONFIGS[arch])
    with tempfile.TemporaryDirectory() as tmp:
        src = osp.join(tmp, 'orig.pt')
        torch.save(orig.state_dict(), src)
        state, _ = convert_yolov5_checkpoint(src, cfg, arch)
    ours = build_pose_model(cfg)
    ours.load_state_dict(state, strict=True)
    ours.eval()

    def run_ours(model):
        def fn(x):
            return model.head.decode(model._forward(x))
        return fn

    def run_orig(model):
        def fn(x):
            return model(x)[0]
        return fn

    rows = []
    with torch.no_grad():
        x = torch.rand(1, 3, 256, 256)
        a = run_ours(ours)(x)
        b = run_orig(orig)(x)
        # the original's (N, 4 + 1 + nc + extra) rows vs our decoded boxes
        ref_xy = b[0, :, :2]
        our_xy = (a['bboxes'][0, :, :2] + a['bboxes'][0, :, 2:]) / 2
        max_diff = float((ref_xy - our_xy).abs().max())
        variants = {'unfused': (run_ours(ours), run_orig(orig))}
        ours_f = fuse_conv_bn(copy.deepcopy(ours))
        orig_f = copy.deepcopy(orig).fuse()
        variants['conv+BN fused'] = (run_ours(ours_f), run_orig(orig_f))
        for size in sizes:
            x = torch.rand(1, 3, size, size)
            for name, (fo, fr) in variants.items():
                fo(x), fr(x)  # warm-up
                fo(x), fr(x)
                to, tr = [], []
                for _ in range(repeat):  # alternate: same machine state
                    to.append(_ms(fo, x))
                    tr.append(_ms(fr, x))
                to.sort(), tr.sort()
                rows.append(dict(arch=arch, size=size, variant=name,
                                 ours_ms=to[len(to) // 2],
                                 original_ms=tr[len(tr) // 2]))
    return dict(rows=rows, max_abs_diff_box_centre_px=max_diff,
                torch=torch.__version__, threads=threads)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--yolopose', help='edgeai-yolov5 (yolo-pose) checkout')
    parser.add_argument('--kapao', help='wmcnally/kapao checkout')
    parser.add_argument('--sizes', type=int, nargs='+',
                        default=[640, 960, 1280])
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        arch, repo = args.worker.split('=', 1)
        out = worker(arch, repo, args.sizes, args.repeat, args.threads)
        print('RESULT ' + json.dumps(out))
        return
    repos = {'yolopose': args.yolopose, 'kapao': args.kapao}
    if not any(repos.values()):
        parser.error('give --yolopose and/or --kapao (checkout paths)')
    results = []
    for arch, repo in repos.items():
        if not repo:
            continue
        if not osp.isdir(osp.join(repo, 'models')):
            parser.error(f'{repo}: not a checkout of the original ({arch})')
        cmd = [sys.executable, __file__, '--worker', f'{arch}={osp.abspath(repo)}',
               '--repeat', str(args.repeat), '--threads', str(args.threads),
               '--sizes', *map(str, args.sizes)]
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              env=dict(os.environ), cwd=repo)
        line = [x for x in proc.stdout.splitlines() if x.startswith('RESULT ')]
        if proc.returncode != 0 or not line:
            sys.exit(f'{arch} worker failed:\n{proc.stdout[-3000:]}\n'
                     f'{proc.stderr[-3000:]}')
        results.append(json.loads(line[0][len('RESULT '):]))
    print('| model | input | conv+BN | ours ms | original ms | ours / original |')
    print('|---|---|---|---|---|---|')
    for res in results:
        for r in res['rows']:
            print(f"| {r['arch']} s6 | {r['size']} | {r['variant']} | "
                  f"{r['ours_ms']:.1f} | {r['original_ms']:.1f} | "
                  f"{r['ours_ms'] / r['original_ms']:.3f} |")
    for res in results:
        arch = res['rows'][0]['arch']
        print(f"{arch}: decoded box centres ours vs original, max |diff| "
              f"{res['max_abs_diff_box_centre_px']:.2e} px (256 x 256 input); "
              f"torch {res['torch']}, {res['threads']} threads, batch 1, "
              f"median of {args.repeat}")


if __name__ == '__main__':
    main()
