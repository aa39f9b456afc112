"""YOLO-Pose s6 vs mmpose's YOLOX-Pose s: CPU latency, parameters, FLOPs.

Both models are built in the same process from their configs
(``configs/yolopose_s6_4xb16-300e_coco-640.py`` and mmpose's
``yoloxpose_s_8xb32-300e_coco-640.py``) at the same input size, with random
weights (nothing can be downloaded here; each head's own bias priors are set
by ``init_weights``), in eval mode, batch 1, on one real image of
``data/coco_tiny`` passed through each config's validation pipeline.

Rows, per image, median and minimum over ``--repeat`` rounds after
``--warmup`` rounds; all timed functions alternate within each round so that
a changing machine load hits them alike:

- ``forward``: backbone + neck + head, raw outputs (``model._forward``);
- ``end-to-end``: ``model.predict`` = forward + decoding + score filter +
  NMS + mapping to the original image (what mmpose runs at test time), in
  two settings:

  - ``config test_cfg``: each config's own thresholds (YOLO-Pose: score
    0.001, NMS IoU 0.6, at most 300; YOLOX-Pose: score 0.01, NMS IoU 0.65).
    With random weights the number of candidates that pass is not a trained
    model's (our YOLOv5 objectness prior sits near 0.001, so nearly every
    anchor passes; mmpose's prior 1e-4 is below its 0.01): this row mostly
    shows the worst and the best case of NMS;
  - ``equal load``: both keep their NMS IoU, but take exactly the 1000 best
    candidates (score threshold 0, ``nms_pre=1000``, no cap on the output),
    so both post-process the same number of boxes;
- ``post-processing``: end-to-end minus forward (medians).

Parameters and FLOPs come from mmengine's ``get_model_complexity_info`` on the
tensor forward (one multiply-add counts as one FLOP, as mmengine does).

    python benchmarks/bench_yolopose.py [--input-size 640] [--repeat 20]
        [--warmup 3] [--threads 2]
"""
import argparse
import os.path as osp
import statistics
import sys
import time

import torch

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# measure the working tree, not an installed copy of the package
sys.path.insert(0, ROOT)

YOLOPOSE_CFG = osp.join(ROOT, 'configs', 'yolopose_s6_4xb16-300e_coco-640.py')
YOLOXPOSE_CFG = 'body_2d_keypoint/yoloxpose/coco/' \
    'yoloxpose_s_8xb32-300e_coco-640.py'  # in mmpose's installed configs
IMAGE = osp.join(ROOT, 'data', 'coco_tiny', '000000197388.jpg')


def _set_input_size(pipeline: list, size: int) -> list:
    for t in pipeline:
        if 'input_size' in t:
            t['input_size'] = (size, size)
    return pipeline


def build(cfg_path: str, size: int):
    """Model (eval, random weights) and one preprocessed batch of 1 image."""
    from mmengine.config import Config
    from mmengine.dataset import Compose, pseudo_collate
    from mmpose.registry import MODELS

    if not osp.isabs(cfg_path):
        import mmpose
        cfg_path = osp.join(
            osp.dirname(mmpose.__file__), '.mim', 'configs', cfg_path)
    cfg = Config.fromfile(cfg_path)
    cfg.model.backbone.init_cfg = None  # no download
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.eval()
    pipeline = Compose(_set_input_size(cfg.val_dataloader.dataset.pipeline,
                                       size))
    sample = pipeline(dict(img_path=IMAGE, img_id=0, id=0))
    data = model.data_preprocessor(pseudo_collate([sample]), training=False)
    return model, data['inputs'], data['data_samples']


def complexity(model, inputs):
    from mmengine.analysis import get_model_complexity_info
    fwd = model.forward
    model.forward = model._forward  # tensor mode
    try:
        info = get_model_complexity_info(
            model, inputs=(inputs, ), show_table=False, show_arch=False)
    finally:
        model.forward = fwd
    return info['params'], info['flops']


def time_rounds(fns: dict, repeat: int, warmup: int) -> dict:
    """Per function: list of wall times (s); functions alternate."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {k: [] for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--input-size', type=int, default=640)
    parser.add_argument('--repeat', type=int, default=20)
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--threads', type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules()

    models = {
        'yolopose_s6 (ours)': build(YOLOPOSE_CFG, args.input_size),
        'yoloxpose_s (mmpose)': build(YOLOXPOSE_CFG, args.input_size),
    }
    equal_cfg = {
        names: cfg for names, cfg in (
            ('yolopose_s6 (ours)',
             dict(score_thr=0.0, nms_thr=0.6, nms_pre=1000,
                  max_per_img=1000)),
            ('yoloxpose_s (mmpose)',
             dict(score_thr=0.0, nms_thr=0.65, nms_pre=1000)),
        )
    }
    fns, n_out, cplx = {}, {}, {}
    for name, (model, inputs, samples) in models.items():
        cplx[name] = complexity(model, inputs)
        cfgs = {'config test_cfg': dict(model.test_cfg),
                'equal load': equal_cfg[name]}

        def fwd(model=model, inputs=inputs):
            with torch.no_grad():
                model._forward(inputs)

        fns[(name, 'forward')] = fwd
        for setting, test_cfg in cfgs.items():

            def e2e(model=model, inputs=inputs, samples=samples,
                    test_cfg=test_cfg):
                model.test_cfg = test_cfg
                with torch.no_grad():
                    return model.predict(inputs, samples)

            fns[(name, setting)] = e2e
            n_out[(name, setting)] = len(e2e()[0].pred_instances)

    times = time_rounds(fns, args.repeat, args.warmup)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    mn = {k: min(v) * 1e3 for k, v in times.items()}
    names = list(models)
    ours, ref = names
    settings = ('config test_cfg', 'equal load')

    print(f'CPU, {torch.get_num_threads()} threads, batch 1, input '
          f'{args.input_size}x{args.input_size}, {args.repeat} rounds '
          f'(median / min); torch {torch.__version__}')
    print('| | ' + ' | '.join(names) + ' | ratio ours / mmpose (median) |')
    print('|---' * (len(names) + 2) + '|')

    def row(label, key):
        cells = [f'{med[(n, key)]:.1f} / {mn[(n, key)]:.1f}' for n in names]
        ratio = med[(ours, key)] / med[(ref, key)]
        print(f'| {label} | ' + ' | '.join(cells) + f' | {ratio:.2f} |')

    row('forward (ms)', 'forward')
    for setting in settings:
        row(f'end-to-end, {setting} (ms)', setting)
    for setting in settings:
        post = [med[(n, setting)] - med[(n, 'forward')] for n in names]
        print(f'| post-processing, {setting} (ms) | ' +
              ' | '.join(f'{p:.1f}' for p in post) + ' | - |')
        print(f'| instances returned, {setting} | ' +
              ' | '.join(str(n_out[(n, setting)]) for n in names) + ' | - |')
    print('| parameters (M) | ' +
          ' | '.join(f'{cplx[n][0] / 1e6:.2f}' for n in names) +
          f' | {cplx[ours][0] / cplx[ref][0]:.2f} |')
    print('| FLOPs (G) | ' +
          ' | '.join(f'{cplx[n][1] / 1e9:.2f}' for n in names) +
          f' | {cplx[ours][1] / cplx[ref][1]:.2f} |')


if __name__ == '__main__':
    main()
