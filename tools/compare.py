"""Train / evaluate / time a set of pose configs and compare them.

For each config: train it (unless a checkpoint is given), evaluate it with
the config's own evaluator (mmpose's ``CocoMetric``: AP, AP50, AP75, APm,
APl, AR) and count parameters and FLOPs of one network input (mmengine's
complexity analysis). Then, after every config is trained and evaluated,
time inference on one image (forward + post-processing, warm-up, median and
spread of repeated runs; a top-down model runs the image's person crops as
one batch, from the test set's boxes, without a detector) in **interleaved
rounds**: round r times every config in turn (a few runs each, starting at
a different config each round), so that a change of machine load during the
run hits every config alike instead of the configs timed at that moment.
With ``--backend pytorch onnxruntime`` each config that exports to ONNX
(one-stage YOLO-Pose / KAPAO, top-down heatmap) is also exported with
``posekit_plugins.deployment.export_onnx`` and timed with
``ONNXPoseRunner`` (pre-processing, onnxruntime, post-processing) in the
same rounds; the others read "n/a (reason)" in that column.
Writes to ``--work-dir``:

- ``results.md``: a Markdown table;
- ``results.json`` / ``results.csv``: every figure, errors, the environment;
- ``ap_vs_latency.png``: AP against latency, one labelled point per config;
- with ``--draw IMAGE``: ``<config>/prediction.png``, each model's skeletons
  drawn on that image by ``tools/visualize.py``.

A config that fails (does not build, a checkpoint that does not match it,
training that crashes) is reported in the table with its error; the other
configs are still measured and written, and the exit status is 1.

    python tools/compare.py --suite heatmap-tiny --work-dir work_dirs/compare
    python tools/compare.py A.py B.py --checkpoints a.pth b.pth
    python tools/compare.py A.py B.py --max-epochs 50
    python tools/compare.py --suite all-tiny --draw data/coco_tiny/000000196141.jpg
    python tools/compare.py --suite one-stage-tiny --backend pytorch onnxruntime
"""
import argparse
import csv
import inspect
import json
import os
import os.path as osp
import platform
import statistics
import subprocess
import sys
import time
import traceback
from typing import Dict, List, Optional, Tuple

import numpy as np
from _checkout import ROOT  # and this checkout's package goes first

CONFIG_DIR = osp.join(ROOT, 'configs')

#: Named comparisons. ``-tiny`` suites train on the shipped 4-image set.
SUITES: Dict[str, List[str]] = {
    'heatmap': [
        'td-hm_res50_8xb64-210e_coco-256x192.py',
        'td-hm_res50_dark-8xb64-210e_coco-256x192.py',
        'td-hm_res50_swahr-8xb64-210e_coco-256x192.py',
        'td-hm_res50_swahr-dark-8xb64-210e_coco-256x192.py',
    ],
    'heatmap-tiny': [
        'td-hm_res18_1xb12-300e_coco-tiny-128x96.py',
        'td-hm_res18_dark-1xb12-300e_coco-tiny-128x96.py',
        'td-hm_res18_swahr-1xb12-300e_coco-tiny-128x96.py',
        'td-hm_res18_swahr-dark-1xb12-300e_coco-tiny-128x96.py',
    ],
    'one-stage': [
        'yolopose_s6_4xb16-300e_coco-640.py',
        'kapao_s6_4xb16-300e_coco-640.py',
        'mmpose::body_2d_keypoint/yoloxpose/coco/'
        'yoloxpose_s_8xb32-300e_coco-640.py',
    ],
    'one-stage-tiny': [
        'yolopose_tiny_1xb4-300e_coco-tiny-256.py',
        'kapao_tiny_1xb4-300e_coco-tiny-256.py',
        'yoloxpose_tiny_1xb4-300e_coco-tiny-256.py',
    ],
    # associative embedding: plain HRNet (1/4 only), HigherHRNet (1/4 +
    # 1/2), HigherHRNet with SWAHR at both resolutions
    'bottom-up': [
        'ae_hrnet-w32_8xb24-300e_coco-512x512.py',
        'ae_higherhrnet-w32_8xb24-300e_coco-512x512.py',
        'ae_higherhrnet-w32_swahr-8xb24-300e_coco-512x512.py',
    ],
    'bottom-up-tiny': [
        'ae_hrnet-tiny_swahr-1xb4-300e_coco-tiny-256x256.py',
        'ae_higherhrnet-tiny_1xb4-300e_coco-tiny-256x256.py',
        'ae_higherhrnet-tiny_swahr-1xb4-300e_coco-tiny-256x256.py',
    ],
}
# the tiny configs' CrowdPose twins (K=14, data/crowdpose_tiny; scored with
# the crowd metric, whose AP / AP .5 / AP .75 / AR fill the same columns)
SUITES['crowdpose-tiny'] = [
    c.replace('coco-tiny', 'crowdpose-tiny')
    for c in SUITES['heatmap-tiny'] + SUITES['one-stage-tiny'][:2] +
    SUITES['bottom-up-tiny'][1:]
]
SUITES['all'] = SUITES['heatmap'] + SUITES['one-stage'] + SUITES['bottom-up']
# the main job's suite (tools/run_demo.sh); `bottom-up-tiny` runs apart
SUITES['all-tiny'] = SUITES['heatmap-tiny'] + SUITES['one-stage-tiny']

BACKENDS = ('pytorch', 'onnxruntime')

METRICS = [('AP', 'coco/AP'), ('AP50', 'coco/AP .5'), ('AP75', 'coco/AP .75'),
           ('APm', 'coco/AP (M)'), ('APl', 'coco/AP (L)'), ('AR', 'coco/AR')]


class CompareError(RuntimeError):
    """A config could not be measured; the message says why."""


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('configs', nargs='*', help='config files')
    parser.add_argument('--suite', help=f'one of: {", ".join(SUITES)}')
    parser.add_argument(
        '--checkpoints', nargs='+',
        help='one checkpoint per config ("-" to train that one)')
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument('--max-epochs', type=int,
                        help='training budget (overrides the configs)')
    budget.add_argument('--max-iters', type=int,
                        help='training budget in iterations (iteration-based '
                        'training loop)')
    parser.add_argument('--work-dir', default='work_dirs/compare')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--warmup', type=int, default=3)
    parser.add_argument('--runs', type=int, default=20,
                        help='timed runs per config, one test image each '
                        '(cycling through the first RUNS images)')
    parser.add_argument('--rounds', type=int, default=10,
                        help='the runs are split into this many interleaved '
                        'rounds over all configs (at most RUNS)')
    parser.add_argument('--backend', nargs='+', choices=BACKENDS,
                        default=['pytorch'],
                        help='pytorch (always timed) and/or onnxruntime')
    parser.add_argument('--draw', metavar='IMAGE',
                        help='draw each model\'s prediction on this image')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    if args.suite:
        if args.suite not in SUITES:
            parser.error(f'unknown suite "{args.suite}"; known suites: '
                         f'{", ".join(SUITES)}')
        args.configs = list(SUITES[args.suite]) + args.configs
    if not args.configs:
        parser.error('give configs or --suite')
    if args.runs < 1:
        parser.error('--runs must be at least 1')
    if args.rounds < 1:
        parser.error('--rounds must be at least 1')
    args.rounds = min(args.rounds, args.runs)
    if 'pytorch' not in args.backend:  # the table's figures are PyTorch's
        args.backend = ['pytorch', *args.backend]
    if args.draw and not osp.isfile(args.draw):
        parser.error(f'--draw: no such image: {args.draw}')
    if args.checkpoints and len(args.checkpoints) != len(args.configs):
        parser.error(f'{len(args.checkpoints)} checkpoints for '
                     f'{len(args.configs)} configs')
    return args


def resolve_config(name: str) -> str:
    """A path, a name under configs/, or ``mmpose::<path>``."""
    if name.startswith('mmpose::'):
        import importlib

        from mmengine.config.utils import _get_package_and_cfg_path
        package, rel = _get_package_and_cfg_path(name)
        mod = importlib.import_module(package)
        path = osp.join(osp.dirname(mod.__file__), '.mim', 'configs', rel)
    elif osp.isfile(name):
        path = name
    else:
        path = osp.join(CONFIG_DIR, name)
    if not osp.isfile(path):
        raise CompareError(f'config not found: {name}')
    return osp.abspath(path)


def load_config(path: str):
    from mmengine.config import Config
    try:
        cfg = Config.fromfile(path)
    except Exception as e:  # noqa: BLE001 - reported, run goes on
        raise CompareError(
            f'config does not parse: {type(e).__name__}: {e}') from e
    return cfg


def run_tool(args: List[str], log_file: str) -> None:
    """Run a tools/ script in a fresh process; its log goes to ``log_file``."""
    with open(log_file, 'w') as log:
        proc = subprocess.run([sys.executable, *args], stdout=log,
                              stderr=subprocess.STDOUT, cwd=ROOT)
    if proc.returncode != 0:
        with open(log_file) as f:
            tail = f.read().strip().splitlines()[-1:] or ['']
        raise CompareError(f'{osp.basename(args[0])} failed '
                           f'(exit {proc.returncode}): {tail[0][:300]} '
                           f'[log: {log_file}]')


def budget_config(cfg_path: str, work_dir: str,
                  args: argparse.Namespace) -> str:
    """A child config that only changes the training length."""
    if not (args.max_epochs or args.max_iters):
        return cfg_path
    if args.max_epochs:
        body = (f'train_cfg = dict(max_epochs={args.max_epochs}, '
                f'val_interval={args.max_epochs})\n')
    else:  # epoch-based lr milestones then never trigger: lr stays constant
        body = (f'train_cfg = dict(_delete_=True, type="IterBasedTrainLoop", '
                f'max_iters={args.max_iters}, val_interval={args.max_iters})\n'
                'train_dataloader = dict(sampler=dict(_delete_=True, '
                'type="InfiniteSampler", shuffle=True))\n')
    path = osp.join(work_dir, 'budget_config.py')
    with open(path, 'w') as f:
        f.write(f'_base_ = [{cfg_path!r}]\n' + body)
    return path


def train(cfg_path: str, work_dir: str, args: argparse.Namespace) -> str:
    cmd = [osp.join(ROOT, 'tools', 'train.py'),
           budget_config(cfg_path, work_dir, args), '--work-dir', work_dir,
           '--no-validate']
    run_tool(cmd, osp.join(work_dir, 'train.log'))
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def check_checkpoint(cfg, ckpt: str) -> None:
    """Fail clearly when a checkpoint's weights do not fit the config."""
    from mmengine.runner.checkpoint import _load_checkpoint
    from mmpose.registry import MODELS
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules()
    if not osp.isfile(ckpt):
        raise CompareError(f'checkpoint not found: {ckpt}')
    state = _load_checkpoint(ckpt, map_location='cpu')
    state = state.get('state_dict', state)
    expected = MODELS.build(cfg.model).state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    shapes = [k for k in set(expected) & set(state)
              if tuple(expected[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or shapes:
        example = (missing or unexpected or shapes)[0]
        raise CompareError(
            f'checkpoint {ckpt} does not match the config: {len(missing)} '
            f'missing, {len(unexpected)} unexpected, {len(shapes)} '
            f'shape-mismatched weights (e.g. {example})')


def evaluate(cfg_path: str, ckpt: str, work_dir: str) -> Dict[str, float]:
    out = osp.join(work_dir, 'metrics.json')
    run_tool([osp.join(ROOT, 'tools', 'test.py'), cfg_path, ckpt,
              '--work-dir', osp.join(work_dir, 'test'), '--out', out],
             osp.join(work_dir, 'test.log'))
    with open(out) as f:
        return json.load(f)


def draw(cfg_path: str, ckpt: str, work_dir: str, image: str) -> dict:
    """The model's skeletons on ``image``; a failure here keeps the figures."""
    out = osp.join(work_dir, 'prediction.png')
    try:
        run_tool([osp.join(ROOT, 'tools', 'visualize.py'), cfg_path, ckpt,
                  osp.abspath(image), '--out', out],
                 osp.join(work_dir, 'visualize.log'))
    except CompareError as e:
        return dict(picture=None, picture_error=str(e))
    return dict(picture=out, picture_error=None)


def _test_images(cfg, count: int) -> List[Tuple[dict, str, np.ndarray]]:
    """The first ``count`` test images, each as one batch: for a top-down
    model, all its person crops (the test set's boxes: ground truth, or the
    config's detection file with all its boxes; no detector is run).

    Returns (batch, image path, (N, 4) xyxy boxes of the batch) triples."""
    from mmengine.dataset import pseudo_collate
    from mmpose.registry import DATASETS
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    if len(dataset) == 0:
        raise CompareError('the test dataset is empty')
    groups: Dict[int, List[int]] = {}
    for i in range(len(dataset)):  # a detection file need not be sorted
        img_id = dataset.get_data_info(i)['img_id']
        if img_id in groups or len(groups) < count:
            groups.setdefault(img_id, []).append(i)
    images = []
    for ids in groups.values():
        infos = [dataset.get_data_info(i) for i in ids]
        boxes = np.concatenate(
            [np.asarray(d.get('bbox', np.zeros((0, 4))),
                        np.float32).reshape(-1, 4) for d in infos])
        images.append((pseudo_collate([dataset[i] for i in ids]),
                       infos[0]['img_path'], boxes))
    return images


def interleaved_schedule(units: int, rounds: int,
                         runs: int) -> List[Tuple[int, int, int]]:
    """The order of the timed runs: ``(round, unit, run)`` triples.

    Round ``r`` times every unit (config and backend) in turn, starting at
    unit ``r % units`` so that no unit always follows the same one; each unit
    gets ``runs`` runs in all, ``runs // rounds`` per round and one more in
    the first ``runs % rounds`` rounds. A load change during the timing then
    falls on every unit alike.
    """
    rounds = max(1, min(rounds, runs))
    order, done = [], [0] * units
    for r in range(rounds):
        per_round = runs // rounds + (r < runs % rounds)
        for k in range(units):
            unit = (r + k) % units
            for _ in range(per_round):
                order.append((r, unit, done[unit]))
                done[unit] += 1
    return order


class TorchTimer:
    """One PyTorch inference (forward + post-processing) of a test image."""

    backend = 'pytorch'

    def __init__(self, cfg, ckpt: Optional[str], args: argparse.Namespace):
        from mmpose.apis import init_model
        self.model = init_model(cfg, ckpt, device=args.device)
        # each run processes one test image, cycling through the first few
        self.images = _test_images(cfg, args.runs)
        self.device = args.device

    def run(self, i: int) -> float:
        """Milliseconds for test image ``i`` (cycling)."""
        import torch
        batch = self.images[i % len(self.images)][0]
        cuda = self.device.startswith('cuda')
        with torch.no_grad():
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
            self.model.test_step(batch)
            if cuda:
                torch.cuda.synchronize()
        return (time.perf_counter() - start) * 1000

    def complexity(self) -> dict:
        """Parameters and FLOPs of one network input (one crop / image)."""
        import torch
        from mmengine.analysis import get_model_complexity_info
        with torch.no_grad():
            inputs = self.model.data_preprocessor(
                self.images[0][0], False)['inputs'][:1]
            info = get_model_complexity_info(
                self.model, inputs=(inputs, None), show_table=False,
                show_arch=False)
        return dict(
            latency_images=len(self.images),
            crops_per_image=statistics.mean(
                len(b['inputs']) for b, _, _ in self.images),
            params_M=info['params'] / 1e6, flops_G=info['flops'] / 1e9,
            input_size='x'.join(str(s) for s in tuple(inputs.shape[-2:])[::-1]))


class ONNXTimer:
    """One onnxruntime inference of a test image: ``ONNXPoseRunner`` on the
    BGR image (pre-processing, the exported graph, post-processing), with
    the test set's boxes for a top-down model, as the PyTorch timing."""

    backend = 'onnxruntime'

    def __init__(self, cfg_path: str, ckpt: str, work_dir: str,
                 torch_timer: TorchTimer, args: argparse.Namespace):
        import cv2
        import torch

        from posekit_plugins.deployment import ONNXPoseRunner, export_onnx
        from posekit_plugins.deployment.export import model_family
        family = model_family(load_config(cfg_path))  # ValueError: n/a
        out = osp.join(work_dir, 'model.onnx')
        # top-down runs all crops of an image as one batch, as PyTorch does
        # (torch < 2.5 exports it with a fixed batch: crop by crop)
        dynamo = 'dynamo' in inspect.signature(torch.onnx.export).parameters
        export_onnx(cfg_path, ckpt, out,
                    dynamic_batch=family == 'topdown' and dynamo)
        providers = 'cuda' if args.device.startswith('cuda') else 'cpu'
        # the same thread count as PyTorch's, for a like-for-like figure
        self.runner = ONNXPoseRunner(out, providers=providers,
                                     num_threads=torch.get_num_threads())
        # onnxruntime's threads spin-wait after each run by default, taking
        # the CPU from the PyTorch run that follows in the interleaved
        # rounds (2 loaded cores: PyTorch's median went from 96 to 382 ms
        # with the default session): a session whose threads do not spin
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.graph_optimization_level = \
            ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.intra_op_num_threads = torch.get_num_threads()
        opts.add_session_config_entry('session.intra_op.allow_spinning', '0')
        opts.add_session_config_entry('session.inter_op.allow_spinning', '0')
        self.runner.session = ort.InferenceSession(
            out, sess_options=opts, providers=self.runner.providers)
        self.onnx_path = out
        self.images = []
        for _, path, boxes in torch_timer.images:
            img = cv2.imread(path)
            if img is None:
                raise CompareError(f'cannot read the test image {path}')
            self.images.append((img, boxes if family == 'topdown' else None))

    def run(self, i: int) -> float:
        img, boxes = self.images[i % len(self.images)]
        start = time.perf_counter()
        self.runner(img, boxes)
        return (time.perf_counter() - start) * 1000


def _latency_stats(times: List[float], prefix: str) -> dict:
    q = statistics.quantiles(times, n=4) if len(times) > 1 else times * 3
    return {f'{prefix}_ms': statistics.median(times),
            f'{prefix}_q1_ms': q[0], f'{prefix}_q3_ms': q[-1]}


def time_interleaved(rows: List[dict], timers: Dict[int, list],
                     args: argparse.Namespace, progress=None) -> None:
    """Time every (config, backend) unit in interleaved rounds and write the
    figures into ``rows``; a unit that fails marks its row (PyTorch) or its
    onnxruntime column."""
    units = [(i, t) for i in sorted(timers) for t in timers[i]]
    times: Dict[int, List[float]] = {u: [] for u in range(len(units))}
    failed: Dict[int, str] = {}

    def fail(u: int, e: Exception) -> None:
        failed[u] = (str(e) if isinstance(e, CompareError)
                     else f'{type(e).__name__}: {e}')

    for u, (_, timer) in enumerate(units):  # warm-up, before any timing
        try:
            for k in range(args.warmup):
                timer.run(k)
        except Exception as e:  # noqa: BLE001 - reported per config
            fail(u, e)
    schedule = interleaved_schedule(len(units), args.rounds, args.runs)
    for step, (_, u, run) in enumerate(schedule):
        if u in failed:
            continue
        try:
            times[u].append(units[u][1].run(run))
        except Exception as e:  # noqa: BLE001 - reported per config
            fail(u, e)
        if progress is not None:
            progress(step + 1, len(schedule))
    for u, (i, timer) in enumerate(units):
        row = rows[i]
        if timer.backend == 'pytorch':
            if u in failed:
                row['error'] = f'timing failed: {failed[u]}'
                continue
            row.update(_latency_stats(times[u], 'latency'),
                       latency_runs=len(times[u]),
                       latency_rounds=min(args.rounds, args.runs))
        elif u in failed:
            row['onnx_error'] = f'n/a (timing failed: {failed[u]})'
        else:
            row.update(_latency_stats(times[u], 'onnx_latency'),
                       onnx_error=None)


def measure(name: str, label: str, ckpt: Optional[str], args,
            progress) -> Tuple[dict, list]:
    """Build, train, evaluate, count and draw one config; returns its row
    and its timers (timed later, interleaved with the other configs')."""
    row = dict(label=label, config=name, checkpoint=ckpt, trained=False,
               error=None)
    if 'onnxruntime' in args.backend:
        row['onnx_error'] = 'n/a (the config did not get that far)'
    timers = []
    work_dir = osp.abspath(osp.join(args.work_dir, label))
    os.makedirs(work_dir, exist_ok=True)
    try:
        progress(label, 'build')
        path = resolve_config(name)
        cfg = load_config(path)
        from mmpose.registry import MODELS
        from mmpose.utils import register_all_modules

        import posekit_plugins  # noqa: F401
        register_all_modules()
        try:
            MODELS.build(cfg.model)
        except Exception as e:  # noqa: BLE001
            raise CompareError(
                f'model does not build: {type(e).__name__}: {e}') from e
        if not ckpt:
            progress(label, 'train')
            ckpt = train(path, work_dir, args)
            row.update(checkpoint=ckpt, trained=True)
        else:
            check_checkpoint(cfg, ckpt)
        progress(label, 'evaluate')
        metrics = evaluate(path, ckpt, work_dir)
        row.update({k: _metric(metrics, v) for k, v in METRICS})
        progress(label, 'count')
        timers.append(TorchTimer(cfg, ckpt, args))
        row.update(timers[0].complexity())
        if 'onnxruntime' in args.backend:
            progress(label, 'export')
            try:
                timers.append(ONNXTimer(path, ckpt, work_dir, timers[0], args))
                row['onnx_error'] = None
            except Exception as e:  # noqa: BLE001 - a column, not a failure
                row['onnx_error'] = f'n/a ({_one_line(e)})'
        if args.draw:
            progress(label, 'draw')
            row.update(draw(path, ckpt, work_dir, args.draw))
    except CompareError as e:
        row['error'] = str(e)
    except Exception as e:  # noqa: BLE001 - one config must not stop the run
        row['error'] = f'{type(e).__name__}: {e}'
        with open(osp.join(work_dir, 'error.txt'), 'w') as f:
            f.write(traceback.format_exc())
    return row, ([] if row['error'] else timers)


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return f'{type(e).__name__}: {text[0] if text else ""}'[:200]


def environment(device: str) -> dict:
    import mmcv
    import mmdet
    import mmengine
    import mmpose
    import torch

    import posekit_plugins
    if device.startswith('cuda') and torch.cuda.is_available():
        device_name = torch.cuda.get_device_name(device)
    else:
        device_name = platform.processor() or platform.machine()
        try:
            with open('/proc/cpuinfo') as f:
                device_name = next(line.split(':', 1)[1].strip() for line in f
                                   if line.startswith('model name'))
        except (OSError, StopIteration):
            pass
    return dict(
        device=device, device_name=device_name, torch_threads=torch.get_num_threads(),
        python=platform.python_version(), torch=torch.__version__,
        mmcv=mmcv.__version__, mmengine=mmengine.__version__,
        mmdet=mmdet.__version__, mmpose=mmpose.__version__,
        posekit_plugins=posekit_plugins.__version__)


def _metric(metrics: dict, key: str) -> Optional[float]:
    """``key`` (a ``coco/`` name) or its CrowdPose metric twin."""
    if key in metrics:
        return metrics[key]
    return metrics.get(key.replace('coco/', 'crowdpose/'))


def _fmt(value, digits=3):
    if value is None:
        return '-'
    return f'{value:.{digits}f}' if isinstance(value, float) else str(value)


def _latency(r: dict, prefix: str = 'latency') -> str:
    return (f'{r[prefix + "_ms"]:.1f} [{r[prefix + "_q1_ms"]:.1f}, '
            f'{r[prefix + "_q3_ms"]:.1f}]')


def write_table(rows: List[dict], env: dict, path: str,
                rounds: Optional[int] = None) -> str:
    onnx = any('onnx_error' in r for r in rows)
    head = ['config', 'AP', 'AP50', 'AP75', 'APm', 'APl', 'AR',
            'latency ms (median [q1, q3])', 'params M', 'GFLOPs', 'input']
    if onnx:
        head.insert(8, 'onnxruntime ms (median [q1, q3])')
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for r in rows:
        if r['error']:
            lines.append(f'| {r["label"]} | error: {r["error"]} |' +
                         ' |' * (len(head) - 2))
            continue
        cells = [r['label'], *[_fmt(r[k]) for k, _ in METRICS], _latency(r),
                 _fmt(r['params_M'], 2), _fmt(r['flops_G'], 2),
                 r['input_size'] + (f', {r["crops_per_image"]:.1f} crops/image'
                                    if r['crops_per_image'] != 1 else '')]
        if onnx:
            cells.insert(8, r['onnx_error'] or _latency(r, 'onnx_latency'))
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines += ['', f'Device: {env["device"]} ({env["device_name"]}, '
              f'{env["torch_threads"]} torch threads); latency: one test '
              'image per run (cycling through the first images), forward + '
              'post-processing, after warm-up; median and quartiles over the '
              'runs, so over images too'
              + (f', timed in {rounds} interleaved rounds over all configs'
                 if rounds else '') + '; top-down models run all person '
              'crops of the image as one batch (the test set\'s boxes, no '
              'person detector); '
              + ('onnxruntime: posekit_plugins.deployment.ONNXPoseRunner '
                 '(pre-processing, graph, post-processing) with the same '
                 'threads and images; ' if onnx else '')
              + 'torch ' + env['torch'] + ', mmpose ' + env['mmpose'] + '.']
    text = '\n'.join(lines) + '\n'
    with open(path, 'w') as f:
        f.write(text)
    return text


def write_plot(rows: List[dict], path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    ok = [r for r in rows if not r['error'] and r.get('AP') is not None]
    # numbered points and a legend below: long config names would overlap
    fig, ax = plt.subplots(figsize=(8, 5 + 0.22 * len(ok)), dpi=120)
    for i, r in enumerate(ok, 1):
        ax.errorbar(r['latency_ms'], r['AP'],
                    xerr=[[r['latency_ms'] - r['latency_q1_ms']],
                          [r['latency_q3_ms'] - r['latency_ms']]],
                    fmt='o', capsize=3, label=f'{i}: {r["label"]}')
        ax.annotate(str(i), (r['latency_ms'], r['AP']), fontsize=8,
                    xytext=(4, 4), textcoords='offset points')
    ax.set_xlabel('latency per image, ms (median; bars: quartiles)')
    ax.set_ylabel('COCO keypoint AP')
    ax.set_title('AP vs latency')
    ax.grid(alpha=0.3)
    if ok:
        ax.legend(loc='upper center', bbox_to_anchor=(0.5, -0.13),
                  fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    from tqdm import tqdm
    stages = 4 + bool(args.draw) + ('onnxruntime' in args.backend)
    bar = tqdm(total=len(args.configs) * stages, disable=args.no_progress,
               file=sys.stdout, dynamic_ncols=True)

    def progress(label, stage):
        bar.set_description(f'[{len(rows) + 1}/{len(args.configs)}] '
                            f'{label}: {stage}')
        bar.update(1)

    rows: List[dict] = []
    timers: Dict[int, list] = {}
    seen: Dict[str, int] = {}
    for i, name in enumerate(args.configs):
        label = osp.splitext(osp.basename(name))[0]
        seen[label] = seen.get(label, 0) + 1
        if seen[label] > 1:  # the same config twice: keep work dirs apart
            label = f'{label}-{seen[label]}'
        ckpt = args.checkpoints[i] if args.checkpoints else None
        row, row_timers = measure(name, label, None if ckpt == '-' else ckpt,
                                  args, progress)
        rows.append(row)
        if row_timers:
            timers[len(rows) - 1] = row_timers
        bar.n = stages * len(rows)
        bar.refresh()
    bar.close()

    # latency last, interleaved: every config under the same machine load
    if timers:
        tbar = tqdm(total=1, disable=args.no_progress, file=sys.stdout,
                    dynamic_ncols=True, desc=f'timing ({args.rounds} '
                    'interleaved rounds)')

        def timing_progress(done, total):
            tbar.total = total
            tbar.n = done
            tbar.refresh()

        time_interleaved(rows, timers, args, timing_progress)
        tbar.close()
        timers.clear()  # frees the models

    env = environment(args.device)
    table = write_table(rows, env, osp.join(args.work_dir, 'results.md'),
                        args.rounds)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump(dict(environment=env, results=rows), f, indent=2)
    fields = ['label', 'config', 'checkpoint', 'trained', 'error',
              *[k for k, _ in METRICS], 'latency_ms', 'latency_q1_ms',
              'latency_q3_ms', 'latency_runs', 'latency_rounds',
              'latency_images', 'crops_per_image', 'params_M', 'flops_G',
              'input_size', 'picture', 'picture_error']
    if 'onnxruntime' in args.backend:
        fields += ['onnx_latency_ms', 'onnx_latency_q1_ms',
                   'onnx_latency_q3_ms', 'onnx_error']
    with open(osp.join(args.work_dir, 'results.csv'), 'w', newline='') as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)
    write_plot(rows, osp.join(args.work_dir, 'ap_vs_latency.png'))
    print(table)
    print(f'written: {args.work_dir}/results.md, results.json, results.csv, '
          'ap_vs_latency.png')
    for r in rows:
        if r.get('picture') or r.get('picture_error'):
            print(f'picture ({r["label"]}): '
                  f'{r["picture"] or r["picture_error"]}')
    failed = [r['label'] for r in rows if r['error']]
    if failed:  # the others' results are written above
        print(f'{len(failed)} of {len(rows)} configs failed: '
              f'{", ".join(failed)}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
