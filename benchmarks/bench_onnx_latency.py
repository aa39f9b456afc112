"""End-to-end per-image latency: PyTorch eager vs onnxruntime, on the CPU.

For each one-stage config (default: YOLO-Pose s6 and KAPAO s6 at 640) the
model is built with random weights whose BatchNorm statistics come from the
shipped images (data/coco_tiny; so that scores, NMS and KAPAO's fusion see
realistic work, not a flat output), exported with
``posekit_plugins.deployment.export_onnx``'s one-stage path, and timed on
the same 4 images in the same process:

- ``pytorch``: mmpose's ``inference_bottomup(model, img)``: the config's
  test pipeline (YOLOv5 letterbox), the data preprocessor, the network,
  the head's decoding / NMS / fusion, the mapping to the image;
- ``onnxruntime``: ``ONNXPoseRunner(model.onnx)(img)``: the same
  letterbox and normalisation in numpy, the graph (network, decoding, NMS)
  in onnxruntime (``ORT_ENABLE_ALL``, intra-op threads = ``--threads``),
  the clipping / fusion / mapping in numpy.

Both take the decoded BGR image and return a ``PoseDataSample`` in image
pixels. Rounds are interleaved: every round runs each image on every
(config, backend) pair, alternating which backend goes first, so that a
change of machine load hits all alike. Reported: median and quartiles over
all rounds x images (after one warm-up pass), and the ratio of the medians.

    python benchmarks/bench_onnx_latency.py [--rounds 5] [--threads N]
        [--configs configs/yolopose_s6_4xb16-300e_coco-640.py ...]
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import time

import numpy as np
import torch

# measure the working tree, not an installed copy of the package
ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)

DEFAULT_CONFIGS = ('configs/yolopose_s6_4xb16-300e_coco-640.py',
                   'configs/kapao_s6_4xb16-300e_coco-640.py')


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--configs', nargs='+', default=list(DEFAULT_CONFIGS))
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--threads', type=int, default=os.cpu_count(),
                   help='torch threads and onnxruntime intra-op threads '
                   '(default: all cores)')
    p.add_argument('--work-dir', default=osp.join(ROOT, 'work_dirs',
                                                  'bench_onnx_latency'),
                   help='where the exported models are kept')
    p.add_argument('--images', default=osp.join(ROOT, 'data', 'coco_tiny'))
    p.add_argument('--reexport', action='store_true',
                   help='export again even if the .onnx file exists')
    return p.parse_args()


def build(cfg_path: str, imgs, work_dir: str, reexport: bool = False):
    """The calibrated random model (seeded) and its ONNX export (reused
    when the file exists, unless ``reexport``)."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmpose.apis import init_model

    from posekit_plugins.deployment.onestage import export_onestage
    torch.manual_seed(0)
    model = init_model(cfg_path, None, device='cpu')
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    inputs = model.data_preprocessor(
        pseudo_collate([pipeline(dict(img=img.copy())) for img in imgs]))
    inputs = inputs['inputs']
    gen = torch.Generator().manual_seed(0)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:  # as tools/make_onestage_fixtures.py
            m.weight.uniform_(0.4, 0.6, generator=gen)
            m.bias.uniform_(0.5, 1.5, generator=gen)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None
    model.train()
    with torch.no_grad():
        model.extract_feat(inputs)
    model.eval()
    name = osp.splitext(osp.basename(cfg_path))[0]
    out = osp.join(work_dir, name + '.onnx')
    os.makedirs(work_dir, exist_ok=True)
    if osp.isfile(out) and not reexport:
        # the same seeded weights and statistics: the file matches them
        print(f'reusing {out}', flush=True)
        return model, out
    start = time.perf_counter()
    export_onestage(model, model.cfg, out, check_inputs=inputs[:2])
    print(f'exported {name} in {time.perf_counter() - start:.0f} s -> {out}',
          flush=True)
    return model, out


def _stats(ts):
    q1, med, q3 = np.percentile(np.asarray(ts) * 1e3, [25, 50, 75])
    return med, q1, q3


def main():
    args = parse_args()
    import cv2
    from mmpose.apis import inference_bottomup
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    from posekit_plugins.deployment import ONNXPoseRunner
    register_all_modules(init_default_scope=True)
    torch.set_num_threads(args.threads)
    names = sorted(f for f in os.listdir(args.images)
                   if f.lower().endswith(('.jpg', '.png')))
    imgs = [cv2.imread(osp.join(args.images, f)) for f in names]

    entries = []
    for cfg in args.configs:
        model, path = build(cfg, imgs, args.work_dir, args.reexport)
        runner = ONNXPoseRunner(path, num_threads=args.threads)
        name = osp.splitext(osp.basename(cfg))[0]
        entries.append(dict(
            name=name,
            fns=dict(pytorch=lambda img, m=model: inference_bottomup(m, img),
                     onnxruntime=runner),
            times=dict(pytorch=[], onnxruntime=[]),
            persons={}))
    # warm-up, and the number of persons each backend returns
    for e in entries:
        for backend, fn in e['fns'].items():
            e['persons'][backend] = [
                len(_instances(fn(img))) for img in imgs]
    for r in range(args.rounds):
        for e in entries:
            order = ('pytorch', 'onnxruntime') if r % 2 == 0 else \
                ('onnxruntime', 'pytorch')
            for img in imgs:
                for backend in order:
                    start = time.perf_counter()
                    e['fns'][backend](img)
                    e['times'][backend].append(time.perf_counter() - start)

    print(f'\nCPU, {args.threads} threads (torch {torch.__version__}, '
          f'onnxruntime {_ort_version()}), {len(imgs)} images x '
          f'{args.rounds} rounds, ms per image, median [q1, q3]\n')
    print('| config | PyTorch eager | onnxruntime | ratio ort / torch | '
          'persons (torch / ort, per image) |')
    print('|---|---:|---:|---:|---|')
    for e in entries:
        t = _stats(e['times']['pytorch'])
        o = _stats(e['times']['onnxruntime'])
        print(f"| {e['name']} | {t[0]:.1f} [{t[1]:.1f}, {t[2]:.1f}] | "
              f'{o[0]:.1f} [{o[1]:.1f}, {o[2]:.1f}] | {o[0] / t[0]:.2f} | '
              f"{e['persons']['pytorch']} / {e['persons']['onnxruntime']} |")
    ratios = [statistics.median(e['times']['onnxruntime']) /
              statistics.median(e['times']['pytorch']) for e in entries]
    print(f'\ngoal onnxruntime <= 0.7x PyTorch: '
          f"{'met' if max(ratios) <= 0.7 else 'NOT met'} "
          f"(ratios {', '.join(f'{x:.2f}' for x in ratios)})")


def _instances(result):
    if isinstance(result, list):
        result = result[0]
    return result.pred_instances.bbox_scores


def _ort_version():
    import onnxruntime
    return onnxruntime.__version__


if __name__ == '__main__':
    main()
