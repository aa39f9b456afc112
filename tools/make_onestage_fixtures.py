"""Make reference data for the YOLO-Pose and KAPAO ports from the original code.

The original implementations, YOLO-Pose (TexasInstruments edgeai-yolov5,
branch ``yolo-pose``) and KAPAO (wmcnally/kapao), are GPL-3.0 and are not
part of this repository. This script needs a checkout of each, given by path.
It imports their code (in one subprocess per checkout: both have top-level
``models`` and ``utils`` packages), calls it and saves what it returns; none
of their code is copied here. Per original it:

1. builds the original ``Model`` from its own yaml with seeded random
   weights (optionally narrower/shallower), draws the BN weights and biases
   (see ``BN_WEIGHT``: this keeps the random model well conditioned), takes
   the BN statistics from the images in ``data/coco_tiny`` and re-sets the
   score rows of the ``Detect`` layer (weights and biases: it is a random
   model) so that thresholds, NMS and, for KAPAO, keypoint-object fusion
   have realistic work to do;
2. saves it as the original's ``train.py`` saves a checkpoint and releases
   it with the original's ``strip_optimizer``: ``yolopose_tiny.pt``,
   ``kapao_tiny.pt`` and, from the KAPAO checkout, a plain YOLOv5-P6 COCO
   detector ``yolov5s6_det_tiny.pt`` (random BN only);
3. loads each checkpoint back with the original's ``attempt_load`` and runs
   the original's evaluation inference (letterbox, NMS, rescaling and, for
   KAPAO, fusion) on every image, written to ``<name>_ref.json``;
4. stores, for one image letterboxed to 128 px, the neck features Detect
   receives and its raw per-level outputs (training layout) of the pose
   models, and the backbone stage outputs of the detector, in
   ``<name>_tensors.npz``.

Usage (``seaborn`` must be importable by the originals: install it outside
the virtual environment, e.g. ``pip install --target /tmp/origdeps
--no-deps seaborn``, and pass that folder with ``--deps`` or PYTHONPATH)::

    python tools/make_onestage_fixtures.py --yolopose /tmp/orig/yolopose \\
        --kapao /tmp/orig/kapao --deps /tmp/origdeps

writes to ``tests/data/onestage`` with width 0.125 (the narrowest whose
channel counts ``int(c * widen_factor)`` reproduces) and depth 0.33;
``--full`` uses the yaml's own s6 widths and depths and writes to
``/tmp/onestage_full``. The outputs are reproducible for a given seed.

KAPAO's code loads a font named ``Arial.ttf`` from its checkout at import
time (downloading it when missing); the script copies matplotlib's
DejaVuSans there under that name if it is missing. Checkpoints are pickled
modules, read with ``torch.load(..., weights_only=False)`` inside the worker
processes only.
"""
import argparse
import copy
import hashlib
import importlib
import json
import os
import os.path as osp
import platform
import random
import shlex
import shutil
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
IMAGE_DIR = osp.join(ROOT, 'data', 'coco_tiny')
SMALL_SIZE = 128  # input size of the tensor-level check
BACKBONE_LAYERS = (4, 6, 8, 11)  # outputs of the P3, P4, P5, P6 stages
NECK_LAYERS = (23, 26, 29, 32)  # what Detect receives

# evaluation settings of the originals (YOLO-Pose README / test.py call,
# KAPAO val.py argparse defaults)
YOLOPOSE_EVAL = dict(conf_thres=0.001, iou_thres=0.65)
KAPAO_EVAL = dict(
    conf_thres=0.001,
    iou_thres=0.65,
    use_kp_dets=True,
    conf_thres_kp=0.2,
    iou_thres_kp=0.25,
    conf_thres_kp_person=0.3,
    overwrite_tol=50,
    scales=[1],
    flips=[None],
    count_fused=True)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--yolopose', help='checkout of edgeai-yolov5 (yolo-pose)')
    parser.add_argument('--kapao', help='checkout of wmcnally/kapao')
    parser.add_argument(
        '--out',
        help='output folder (default tests/data/onestage, '
        '/tmp/onestage_full with --full)')
    parser.add_argument(
        '--width', type=float, help='width_multiple (default 0.125)')
    parser.add_argument(
        '--depth', type=float, help='depth_multiple (default 0.33)')
    parser.add_argument('--img-size', type=int, default=640)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--full',
        action='store_true',
        help="keep the yaml's width/depth (s6) and write to /tmp")
    parser.add_argument(
        '--deps', help='extra folder put on the originals\' path (seaborn)')
    # internal: run inside one original's checkout
    parser.add_argument('--worker', choices=('yolopose', 'kapao'),
                        help=argparse.SUPPRESS)
    parser.add_argument('--repo', help=argparse.SUPPRESS)
    parser.add_argument('--command', help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        return run_worker(args)
    if not (args.yolopose or args.kapao):
        raise SystemExit('give --yolopose and/or --kapao')
    if args.full:
        out = args.out or '/tmp/onestage_full'
    else:
        out = args.out or osp.join(ROOT, 'tests', 'data', 'onestage')
        args.width = 0.125 if args.width is None else args.width
        args.depth = 0.33 if args.depth is None else args.depth
    out = osp.abspath(out)
    os.makedirs(out, exist_ok=True)
    command = ' '.join(
        ['python', osp.relpath(osp.abspath(__file__), ROOT)] +
        [shlex.quote(a) for a in sys.argv[1:]])
    for name in ('yolopose', 'kapao'):
        repo = getattr(args, name)
        if not repo:
            continue
        cmd = [
            sys.executable,
            osp.abspath(__file__), '--worker', name, '--repo',
            osp.abspath(repo), '--out', out, '--img-size',
            str(args.img_size), '--seed',
            str(args.seed), '--command', command
        ]
        for flag, value in (('--width', args.width), ('--depth', args.depth),
                            ('--deps', args.deps)):
            if value is not None:
                cmd += [flag, str(value)]
        print(f'== {name}: {repo}', flush=True)
        subprocess.run(cmd, check=True)
    print(f'\nfiles in {out}:')
    total = 0
    for f in sorted(os.listdir(out)):
        size = osp.getsize(osp.join(out, f))
        total += size
        print(f'  {f:32s} {size / 1024:9.1f} KiB')
    print(f'  {"total":32s} {total / 1024:9.1f} KiB')


# --------------------------------------------------------------------------
# worker: everything below runs with one original checkout on sys.path


def run_worker(args):
    here = osp.dirname(osp.abspath(__file__))
    sys.path[:] = [p for p in sys.path if osp.abspath(p or '.') != here]
    sys.path.insert(0, args.repo)
    if args.deps:
        sys.path.insert(1, osp.abspath(args.deps))

    import torch

    # the originals pickle whole modules: allow it in this process only
    torch_load = torch.load

    def load_pickled(*a, **kw):
        kw.setdefault('weights_only', False)
        return torch_load(*a, **kw)

    torch.load = load_pickled
    if args.worker == 'kapao':
        ensure_font(args.repo)
    seed_all(args.seed)
    if args.worker == 'yolopose':
        make_yolopose(args)
    else:
        make_kapao(args)


def ensure_font(repo):
    font = osp.join(repo, 'Arial.ttf')
    if not osp.exists(font):
        import matplotlib
        src = osp.join(matplotlib.get_data_path(), 'fonts', 'ttf',
                       'DejaVuSans.ttf')
        shutil.copyfile(src, font)
        print(f'copied {src} to {font} (KAPAO loads it at import)')


def seed_all(seed):
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_yaml(path):
    import yaml
    with open(path) as f:
        return yaml.safe_load(f)


def image_files():
    return sorted(
        osp.join(IMAGE_DIR, f) for f in os.listdir(IMAGE_DIR)
        if f.endswith('.jpg'))


def letterbox_images(letterbox, files, size):
    """Letterbox each image with the original's own function."""
    import cv2
    items = []
    for f in files:
        im0 = cv2.imread(f)
        img, ratio, pad = letterbox(
            im0, size, color=(114, 114, 114), auto=False)
        items.append(
            dict(
                path=f,
                file=osp.basename(f),
                shape0=im0.shape[:2],
                img=img,
                ratio=ratio,
                pad=pad))
    return items


def to_input(img):
    """HWC BGR uint8 -> 1x3xHxW RGB float32 / 255 (as the originals' loaders)."""
    import numpy as np
    import torch
    chw = np.ascontiguousarray(img[:, :, ::-1].transpose(2, 0, 1))
    return torch.from_numpy(chw).float()[None] / 255.0


# BN affine parameters of the random models, drawn per channel before the
# statistics are taken. With PyTorch's defaults (weight 1, bias 0) each SiLU
# sees N(0, 1) inputs, where it is curved enough that a random Conv-BN-SiLU
# stack amplifies small perturbations by ~1.1 per layer: over the ~60 layers
# to the head, float32 rounding (e.g. one ulp of a fused Conv+BN bias) grows
# to ~1e-3 of the head logits, and a port that fuses or orders operations
# differently cannot match the original's outputs closely. A positive bias
# and a weight below 1 keep most SiLU inputs on its nearly linear part (gain
# ~1.0 per layer): 15-40x smaller float32 error at the head, checked against
# float64.
BN_WEIGHT = (0.4, 0.6)  # uniform range of BatchNorm2d.weight
BN_BIAS = (0.5, 1.5)  # uniform range of BatchNorm2d.bias


def calibrate_bn(model, batch, seed):
    """Random BN weight/bias (``BN_WEIGHT``, ``BN_BIAS``), then running BN
    statistics = statistics of one train-mode batch."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    momenta = [m.momentum for m in bns]
    with torch.no_grad():
        for m in bns:
            m.weight.uniform_(*BN_WEIGHT, generator=gen)
            m.bias.uniform_(*BN_BIAS, generator=gen)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: exactly this batch
    model.train()
    with torch.no_grad():
        model(batch)
    for m, momentum in zip(bns, momenta):
        m.momentum = momentum
    model.eval()
    model.half().float()  # the values the fp16 checkpoint will hold


def bn_info(seed):
    return dict(weight_uniform=list(BN_WEIGHT), bias_uniform=list(BN_BIAS),
                generator_seed=seed,
                running_stats='one train-mode batch of all calibration '
                'images')


def detect_inputs(model, batch):
    import torch
    store = []
    hook = model.model[-1].register_forward_pre_hook(
        lambda mod, inp: store.append([t.detach().clone() for t in inp[0]]))
    with torch.no_grad():
        model(batch)
    hook.remove()
    return store[0]


class ScoreRow:
    """One output channel of a 1x1 head conv and the input it sees.

    ``equalize`` redraws the channel's weights (starting from the random
    ones) so that its logit has the same mean, spread and upper tail in each
    calibration image; ``set_stats`` rescales it to a given spread and mean
    over all images; ``shift`` adds an offset to the bias set by
    ``set_stats``. Values are kept fp16-representable, as the checkpoint
    stores them.
    """

    TAIL = (0.995, 0.999)  # upper quantiles equalized across images

    def __init__(self, conv, channel, inp):
        self.conv, self.c, self.inp = conv, channel, inp
        self.base = None

    def logits(self):
        import torch.nn.functional as F
        w = self.conv.weight[self.c:self.c + 1]
        b = self.conv.bias[self.c:self.c + 1]
        return F.conv2d(self.inp, w, b)

    def equalize(self, steps=300):
        import torch
        flat = self.inp.flatten(2)  # images, channels, positions
        w = self.conv.weight[self.c].detach().reshape(-1).clone()
        w.requires_grad_(True)
        opt = torch.optim.Adam([w], lr=0.01)
        with torch.enable_grad():
            for _ in range(steps):
                z = torch.einsum('c,nch->nh', w, flat)
                mean, std = z.mean(1), z.std(1)
                scale = std.mean()
                q = torch.tensor(self.TAIL)
                tail = (torch.quantile(z, q, dim=1) - mean) / scale
                loss = (((std / scale - 1)**2).sum() +
                        ((mean / scale)**2).sum() +
                        ((tail - tail.mean(1, keepdim=True))**2).sum())
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            self.conv.weight[self.c] = w.detach().view_as(
                self.conv.weight[self.c]).half().float()

    def set_stats(self, std, mean):
        import torch
        with torch.no_grad():
            z = self.logits()
            k = std / z.std()
            w = self.conv.weight[self.c] * k
            self.conv.weight[self.c] = w.half().float()
            self.base = (self.conv.bias[self.c] - z.mean()) * k + mean
            self.shift(0.0)

    def shift(self, offset):
        import torch
        with torch.no_grad():
            self.conv.bias[self.c] = (self.base + offset).half().float()


def bisect(count, target, lo, hi, tol, iters=40):
    """Offset in [lo, hi] where the non-decreasing ``count`` is near target."""
    best = None
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        value = count(mid)
        if best is None or abs(value - target) < abs(best[1] - target):
            best = (mid, value)
        if abs(value - target) <= tol:
            break
        if value < target:
            lo = mid
        else:
            hi = mid
    count(best[0])
    return best[0]


def mean(values):
    return sum(values) / len(values)


def model_info(model, yaml_name, width, depth):
    det = model.model[-1]
    return dict(
        yaml=yaml_name,
        width_multiple=width,
        depth_multiple=depth,
        yaml_nc=model.yaml['nc'],
        detect_nc=det.nc,
        detect_no=det.no,
        num_anchors=det.na,
        strides=det.stride.tolist(),
        anchors_px=det.anchor_grid.view(det.nl, det.na, 2).tolist(),
        num_params=sum(p.numel() for p in model.parameters()))


def save_release(model, path, attrs, ModelEMA, strip_optimizer,
                 training_results):
    """Save like the original train.py, then release with strip_optimizer."""
    import numpy as np
    import torch
    det = model.model[-1]
    det.grid = [torch.zeros(1)] * det.nl  # drop grids cached by tuning
    for k, v in attrs.items():
        setattr(model, k, v)
    ema = ModelEMA(model)
    ema.update_attr(model, include=['yaml', 'stride', *attrs])
    hyp = attrs.get('hyp') or {}
    # its state is dropped by strip_optimizer anyway
    optimizer = torch.optim.SGD(
        model.parameters(),
        lr=hyp.get('lr0', 0.01),
        momentum=hyp.get('momentum', 0.937),
        nesterov=True)
    ckpt = {'epoch': 0, 'best_fitness': np.zeros(1)}
    if training_results:  # YOLO-Pose's train.py stores results.txt
        ckpt['training_results'] = ''
    ckpt.update({
        'model': copy.deepcopy(model).half(),
        'ema': copy.deepcopy(ema.ema).half(),
        'updates': ema.updates,
        'optimizer': optimizer.state_dict(),
        'wandb_id': None
    })
    last = path + '.last.pt'
    torch.save(ckpt, last)
    strip_optimizer(last, path)
    os.remove(last)


def small_tensors(model, letterbox, file, pose=True):
    """Neck features and raw head outputs (pose models) or backbone stage
    outputs (detector) for one small input."""
    import numpy as np
    import torch
    item = letterbox_images(letterbox, [file], SMALL_SIZE)[0]
    x = to_input(item['img'])
    feats, hooks = {}, []
    layers = NECK_LAYERS if pose else BACKBONE_LAYERS
    for i in layers:
        hooks.append(model.model[i].register_forward_hook(
            lambda mod, inp, out, i=i: feats.__setitem__(i, out.clone())))
    det = model.model[-1]
    det.training = True  # raw outputs; the rest stays in eval mode
    try:
        with torch.no_grad():
            heads = model(x)
    finally:
        det.training = False
        for h in hooks:
            h.remove()
    arrays = dict(
        image_file=np.array(item['file']),
        input_bgr_uint8=item['img'],
        orig_shape=np.array(item['shape0']),
        ratio=np.array(item['ratio'], dtype=np.float64),
        pad=np.array(item['pad'], dtype=np.float64),
        strides=det.stride.numpy().astype(np.float32),
        anchors_px=det.anchor_grid.view(det.nl, det.na, 2).numpy())
    if pose:
        for i in NECK_LAYERS:
            arrays[f'neck_{i}'] = feats[i].numpy()
        for lvl, h in enumerate(heads):
            arrays[f'head_{lvl}'] = h.numpy()
    else:
        for i in BACKBONE_LAYERS:
            arrays[f'backbone_{i}'] = feats[i].numpy()
    return arrays


def item_record(item, size):
    return dict(
        file=item['file'],
        orig_shape=list(item['shape0']),
        letterbox_ratio=list(item['ratio']),
        letterbox_pad=list(item['pad']),
        input_shape=[1, 3, size, size],
        letterbox_sha1=hashlib.sha1(item['img'].tobytes()).hexdigest())


def tolist(a):
    """Exact, short JSON numbers: float32 values keep their float32 repr."""
    import numpy as np
    if hasattr(a, 'detach'):
        a = a.detach().cpu().numpy()
    a = np.asarray(a)
    if a.dtype == np.float32:
        flat = [float(str(v)) for v in a.ravel()]
        return np.array(flat, dtype=object).reshape(a.shape).tolist()
    return a.tolist()


def git_info(repo):
    def git(*cmd):
        return subprocess.run(['git', '-C', repo, *cmd],
                              capture_output=True,
                              text=True).stdout.rstrip('\n')

    return dict(
        path=repo,
        commit=git('rev-parse', 'HEAD'),
        branch=git('rev-parse', '--abbrev-ref', 'HEAD'),
        modified_tracked_files=[
            ln[3:] for ln in git('status', '--porcelain').splitlines()
            if not ln.startswith('??')
        ])


def generator_info(args, settings):
    import cv2
    import numpy as np
    import torch
    import torchvision
    return dict(
        script='tools/make_onestage_fixtures.py',
        command=args.command,
        original=git_info(args.repo),
        settings=settings,
        versions=dict(
            python=platform.python_version(),
            torch=torch.__version__,
            torchvision=torchvision.__version__,
            numpy=np.__version__,
            opencv=cv2.__version__),
        note='random-weight models; reference data only')


def write_json(path, obj):
    with open(path, 'w') as f:
        json.dump(obj, f, separators=(',', ':'))
        f.write('\n')
    print(f'wrote {path} ({osp.getsize(path) / 1024:.1f} KiB)')


def write_npz(path, arrays):
    import numpy as np
    np.savez_compressed(path, **arrays)
    print(f'wrote {path} ({osp.getsize(path) / 1024:.1f} KiB)')


def set_multiples(cfg, args):
    if args.width is not None:
        cfg['width_multiple'] = args.width
    if args.depth is not None:
        cfg['depth_multiple'] = args.depth
    return cfg


# ------------------------------------------------------------------ YOLO-Pose


def make_yolopose(args):
    import torch
    m_yolo = importlib.import_module('models.yolo')
    m_exp = importlib.import_module('models.experimental')
    m_data = importlib.import_module('utils.datasets')
    m_gen = importlib.import_module('utils.general')
    m_tu = importlib.import_module('utils.torch_utils')
    nms, scale_coords = m_gen.non_max_suppression, m_gen.scale_coords

    yaml_name = 'models/hub/yolov5s6_kpts.yaml'
    cfg = set_multiples(load_yaml(osp.join(args.repo, yaml_name)), args)
    cfg['dw_conv_kpt'] = True  # as the released m6/l6 (s6 yaml has it too)
    torch.manual_seed(args.seed)
    model = m_yolo.Model(cfg, nc=1)
    det = model.model[-1]
    files = image_files()
    items = letterbox_images(m_data.letterbox, files, args.img_size)
    batch = torch.cat([to_input(it['img']) for it in items])
    calibrate_bn(model, batch, args.seed)
    feats = detect_inputs(model, batch)

    # --- score rows. The original concatenates the box/score conv output
    # (na * 6 channels) and the keypoint branch output (na * 51) and views
    # the result as (na, 57): anchor a takes channels a*57 ... a*57+56 of
    # the concatenation, so e.g. the objectness of anchors 1 and 2 comes
    # from the keypoint branch's last conv.
    def row(level, anchor, field):
        g = anchor * det.no + field
        n_det = det.na * det.no_det
        if g < n_det:
            return ScoreRow(det.m[level], g, feats[level])
        branch = det.m_kpt[level]
        if isinstance(branch, torch.nn.Sequential):
            with torch.no_grad():
                inp = branch[:-1](feats[level])
            branch = branch[-1]
        else:
            inp = feats[level]
        return ScoreRow(branch, g - n_det, inp)

    levels_anchors = [(lv, a) for lv in range(det.nl) for a in range(det.na)]
    for lv, a in levels_anchors:
        row(lv, a, 5).set_stats(1.0, 3.0)  # class score ~0.95
    obj_rows = [row(lv, a, 4) for lv, a in levels_anchors]
    for r in obj_rows:
        r.equalize()

    def counts(offset):
        for r in obj_rows:
            r.shift(offset)
        with torch.no_grad():
            out = det([f.clone() for f in feats])[0]
        res = []
        for o in out:  # one image per call: NMS has a 10 s limit per call
            d = nms(o[None], YOLOPOSE_EVAL['conf_thres'],
                    YOLOPOSE_EVAL['iou_thres'], labels=[], multi_label=True,
                    kpt_label=True, nc=1, nkpt=17)[0]
            res.append((len(d), int((d[:, 4] > 0.25).sum())))
        return res

    def misses(c):  # targets missed, summed over images
        return sum((not 3 <= n25 <= 40) + (not 50 <= n <= 150) for n, n25 in c)

    # the objectness logits of the well-conditioned random model are close
    # to Gaussian (light tails): with a spread of ~3 as a trained model's,
    # ~10 rows above 0.25 come with more than max_det (300) above 0.001
    best = None
    for sigma in (10.0, 12.0, 8.0):
        for r in obj_rows:
            r.set_stats(sigma, 0.0)
        offset = bisect(lambda o: mean([n25 for _, n25 in counts(o)]), 12.0,
                        -60.0, -6.0, tol=2.0)
        c = counts(offset)
        print(f'objectness std {sigma}, mean {offset:.2f}: '
              f'(n > 0.001, n > 0.25) per image {c}')
        if best is None or misses(c) < best[0]:
            best = (misses(c), sigma, offset)
        if not best[0]:
            break
    if best[0]:
        print('WARNING: no setting met every target; using the closest')
    _, sigma, offset = best
    for r in obj_rows:
        r.set_stats(sigma, 0.0)
    tuning = dict(bn=bn_info(args.seed),
                  objectness_logit_std=sigma,
                  objectness_logit_mean=offset,
                  class_logit=dict(std=1.0, mean=3.0),
                  counts_after_nms=counts(offset))

    out_dir = args.out
    ckpt = osp.join(out_dir, 'yolopose_tiny.pt')
    hyp = load_yaml(osp.join(args.repo, 'data', 'hyp.scratch.yaml'))
    save_release(
        model,
        ckpt,
        dict(nc=1, hyp=hyp, gr=1.0, class_weights=torch.ones(1),
             names=['person']),
        m_tu.ModelEMA,
        m_gen.strip_optimizer,
        training_results=True)
    info = model_info(model, yaml_name, cfg['width_multiple'],
                      cfg['depth_multiple'])
    info.update(nkpt=det.nkpt, dw_conv_kpt=det.dw_conv_kpt,
                checkpoint=osp.basename(ckpt))

    # --- the original's evaluation path on the released checkpoint
    model = m_exp.attempt_load(ckpt, map_location='cpu')
    model.eval()
    images = []
    for it in items:
        img = to_input(it['img'])
        with torch.no_grad():
            out, _ = model(img, augment=False)
        # test.py: multi_label=True (off for nc=1), agnostic=single_cls
        pred = nms(out, YOLOPOSE_EVAL['conf_thres'], YOLOPOSE_EVAL['iou_thres'],
                   labels=[], multi_label=True, agnostic=False, kpt_label=True,
                   nc=model.yaml['nc'], nkpt=model.yaml['nkpt'])[0]
        predn = pred.clone()
        ratio_pad = (it['ratio'], it['pad'])
        scale_coords(img[0].shape[1:], predn[:, :4], it['shape0'], ratio_pad,
                     kpt_label=False)
        scale_coords(img[0].shape[1:], predn[:, 6:], it['shape0'], ratio_pad,
                     kpt_label=True, step=3)
        n = len(pred)
        rec = item_record(it, args.img_size)
        rec['counts'] = dict(
            detections=n,
            above_0_25=int((pred[:, 4] > 0.25).sum()),
            above_0_5=int((pred[:, 4] > 0.5).sum()))
        rec['nms'] = dict(
            bboxes=tolist(pred[:, :4]),
            scores=tolist(pred[:, 4]),
            labels=tolist(pred[:, 5]),
            keypoints=tolist(pred[:, 6:].reshape(n, -1, 3)))
        rec['final'] = dict(
            bboxes=tolist(predn[:, :4]),
            scores=tolist(predn[:, 4]),
            keypoints=tolist(predn[:, 6:].reshape(n, -1, 3)))
        images.append(rec)
        print(f"{it['file']}: {rec['counts']}")

    settings = dict(
        img_size=args.img_size,
        letterbox=dict(auto=False, color=114, scaleup=True),
        nms=dict(YOLOPOSE_EVAL, multi_label=True, agnostic=False,
                 kpt_label=True, max_det=300, max_wh=4096),
        scale_coords_ratio_pad='(letterbox ratio, letterbox pad)',
        seed=args.seed,
        width_multiple=cfg['width_multiple'],
        depth_multiple=cfg['depth_multiple'],
        dw_conv_kpt=True,
        small_tensor_size=SMALL_SIZE)
    ref = dict(
        generator=generator_info(args, settings),
        model=info,
        tuning=tuning,
        fields=YOLOPOSE_FIELDS,
        images=images)
    write_json(osp.join(out_dir, 'yolopose_tiny_ref.json'), ref)
    write_npz(osp.join(out_dir, 'yolopose_tiny_tensors.npz'),
              small_tensors(model, m_data.letterbox, files[0]))


YOLOPOSE_FIELDS = {
    'images[].letterbox_sha1': 'sha1 of the letterboxed uint8 HWC BGR image '
    '(C-contiguous bytes) that the network input is made from',
    'images[].letterbox_ratio/pad': 'as letterbox returns them: (r, r), '
    '(dw, dh) = half of the total padding, may be x.5',
    'images[].nms': 'rows of non_max_suppression(kpt_label=True), in input '
    'pixels, sorted by score: bboxes x1y1x2y2, scores = obj * cls, labels, '
    'keypoints K x (x, y, sigmoid visibility)',
    'images[].final': 'the same rows after test.py\'s two scale_coords calls '
    '(ratio_pad = letterbox ratio/pad): original-image pixels; only the first '
    '4 rows of bboxes are clipped (clip_coords(coords[0:4])), every keypoint '
    'x/y is clipped; 3rd keypoint column unchanged',
}


# ---------------------------------------------------------------------- KAPAO


def make_kapao(args):
    import numpy as np
    import torch
    m_yolo = importlib.import_module('models.yolo')
    m_exp = importlib.import_module('models.experimental')
    m_aug = importlib.import_module('utils.augmentations')
    m_gen = importlib.import_module('utils.general')
    m_tu = importlib.import_module('utils.torch_utils')
    m_val = importlib.import_module('val')

    data = load_yaml(osp.join(args.repo, 'data', 'coco-kp.yaml'))
    nc, num_coords = data['nc'], data['num_coords']  # 18, 34
    yaml_name = 'models/yolov5s6.yaml'
    base_cfg = load_yaml(osp.join(args.repo, yaml_name))
    files = image_files()
    items = letterbox_images(m_aug.letterbox, files, args.img_size)
    batch = torch.cat([to_input(it['img']) for it in items])
    hyp = load_yaml(osp.join(args.repo, 'data', 'hyps', 'hyp.kp-p6.yaml'))
    out_dir = args.out

    # --- plain YOLOv5-P6 COCO detector (for a backbone-only converter)
    cfg = set_multiples(copy.deepcopy(base_cfg), args)
    torch.manual_seed(args.seed)
    det_model = m_yolo.Model(cfg, nc=80)
    calibrate_bn(det_model, batch, args.seed)
    det_ckpt = osp.join(out_dir, 'yolov5s6_det_tiny.pt')
    save_release(
        det_model,
        det_ckpt,
        dict(nc=80, hyp=hyp, class_weights=torch.ones(80),
             names=[str(i) for i in range(80)]),
        m_tu.ModelEMA,
        m_gen.strip_optimizer,
        training_results=False)
    det_model = m_exp.attempt_load(det_ckpt, map_location='cpu')
    det_info = model_info(det_model, yaml_name, cfg['width_multiple'],
                          cfg['depth_multiple'])
    det_info['checkpoint'] = osp.basename(det_ckpt)

    # --- KAPAO: yaml nc becomes nc + num_coords (52), Detect.nc = 18
    cfg = set_multiples(copy.deepcopy(base_cfg), args)
    torch.manual_seed(args.seed)
    model = m_yolo.Model(cfg, nc=nc, num_coords=num_coords)
    det = model.model[-1]
    calibrate_bn(model, batch, args.seed)
    feats = detect_inputs(model, batch)

    data.update(imgsz=args.img_size, **KAPAO_EVAL)

    def row(level, anchor, field):
        return ScoreRow(det.m[level], anchor * det.no + field, feats[level])

    # persons mostly from P4-P6, keypoint objects mostly from P3; the class
    # rows overlap enough that the argmax class is sometimes the other kind
    for lv in range(det.nl):
        for a in range(det.na):
            for k in range(5, 5 + nc):
                favoured = (k == 5) != (lv == 0)
                r = row(lv, a, k)
                if k == 5:  # person score: same spread in every image
                    r.equalize()
                r.set_stats(1.0, 2.0 if favoured else -1.0)
    obj_rows = {(lv, a): row(lv, a, 4)
                for lv in range(det.nl) for a in range(det.na)}
    for r in obj_rows.values():
        r.equalize()
    offsets = dict(kp=-10.0, person=-10.0)

    def evaluate():
        for (lv, _), r in obj_rows.items():
            r.shift(offsets['kp' if lv == 0 else 'person'])
        res = []
        with torch.no_grad():
            out = det([f.clone() for f in feats])[0]
        for i, it in enumerate(items):
            # one image per call: NMS has a 10 s limit per call
            pdets, kdets = m_val.run_nms(data, out[i:i + 1])
            *_, n_fused = m_val.post_process_batch(
                data, batch[i:i + 1], [it['path']],
                [(it['shape0'], (it['ratio'], it['pad']))], pdets, kdets)
            res.append(dict(persons=len(pdets[0]),
                            persons_0_3=int((pdets[0][:, 4] > 0.3).sum()),
                            kp_objects=len(kdets[0]),
                            fused=int(n_fused.sum())))
        return res

    def fit(key, target, field, tol):
        def count(o):
            offsets[key] = o
            return mean([r[field] for r in evaluate()])
        return bisect(count, target, -60.0, -4.0, tol=tol)

    def misses(res):  # targets missed, summed over images
        return sum((not 2 <= r['persons_0_3'] <= 10) + (r['kp_objects'] < 10)
                   + (r['fused'] < 3) + (not 10 <= r['persons'] <= 60)
                   for r in res)

    def apply(sigma, kp, person):
        for r in obj_rows.values():
            r.set_stats(sigma, 0.0)
        offsets.update(kp=kp, person=person)
        return evaluate()

    best = None
    for sigma in (10.0, 8.0, 12.0, 6.0):
        for n_person, n_kp in ((4, 40), (6, 40), (4, 80), (6, 80)):
            apply(sigma, -10.0, -10.0)
            fit('person', n_person, 'persons_0_3', tol=1.0)
            fit('kp', n_kp, 'kp_objects', tol=5.0)
            fit('person', n_person, 'persons_0_3', tol=1.0)
            res = evaluate()
            print(f'objectness std {sigma}, means {offsets}: {res}')
            if best is None or misses(res) < best[0]:
                best = (misses(res), sigma, offsets['kp'], offsets['person'])
            if not best[0]:
                break
        if not best[0]:
            break
    if best[0]:
        print('WARNING: no setting met every target; using the closest')
    sigma, kp_mean, person_mean = best[1:]
    res = apply(sigma, kp_mean, person_mean)
    tuning = dict(bn=bn_info(args.seed),
                  objectness_logit_std=sigma,
                  objectness_logit_mean_P3=kp_mean,
                  objectness_logit_mean_P4_P6=person_mean,
                  class_logits='std 1; mean +2 (person at P4-P6, keypoint '
                  'classes at P3), -1 otherwise',
                  counts=res)

    ckpt = osp.join(out_dir, 'kapao_tiny.pt')
    save_release(
        model,
        ckpt,
        dict(nc=nc, hyp=hyp, class_weights=torch.ones(nc),
             names=data['names']),
        m_tu.ModelEMA,
        m_gen.strip_optimizer,
        training_results=False)
    info = model_info(model, yaml_name, cfg['width_multiple'],
                      cfg['depth_multiple'])
    info.update(num_coords=det.num_coords, checkpoint=osp.basename(ckpt))

    # --- the original's val.py path on the released checkpoint
    model = m_exp.attempt_load(ckpt, map_location='cpu')
    model.eval()
    images = []
    for it in items:
        imgs = to_input(it['img'])
        with torch.no_grad():
            out, _ = model(imgs, augment=True, kp_flip=data['kp_flip'],
                           scales=data['scales'], flips=data['flips'])
        person_dets, kp_dets = m_val.run_nms(data, out)
        pd_raw, kd_raw = person_dets[0].clone(), kp_dets[0].clone()
        # post_process_batch rescales person_dets / kp_dets in place
        bboxes, poses, scores, _, n_fused = m_val.post_process_batch(
            data, imgs, [it['path']], [(it['shape0'],
                                        (it['ratio'], it['pad']))],
            person_dets, kp_dets)
        n, m = len(pd_raw), len(kd_raw)
        poses = np.stack(poses) if len(poses) else np.zeros((0, 17, 3))
        scores = np.asarray(scores, dtype=np.float32)
        fused = np.argwhere(poses[:, :, 2] > 0)
        fusion_ran = bool(n and m and (scores > data['conf_thres_kp_person'])
                          .any())
        rec = item_record(it, args.img_size)
        rec['counts'] = dict(
            persons=n,
            persons_above_0_3=int((scores > 0.3).sum()),
            kp_objects=m,
            fused_keypoints=int(len(fused)),
            n_fused_total=int(n_fused.sum()))
        rec['nms_persons'] = dict(
            bboxes=tolist(pd_raw[:, :4]),
            scores=tolist(pd_raw[:, 4]),
            labels=tolist(pd_raw[:, 5]),
            keypoints=tolist(pd_raw[:, 6:].reshape(n, -1, 2)))
        rec['nms_kp_objects'] = dict(
            bboxes=tolist(kd_raw[:, :4]),
            scores=tolist(kd_raw[:, 4]),
            labels=tolist(kd_raw[:, 5]),
            keypoints=tolist(kd_raw[:, 6:].reshape(m, -1, 2)))
        rec['kp_objects_rescaled'] = (
            dict(bboxes=tolist(kp_dets[0][:, :4])) if fusion_ran else None)
        rec['final'] = dict(
            bboxes=tolist(np.asarray(bboxes, dtype=np.float32).reshape(-1, 4)),
            scores=tolist(scores),
            keypoints=tolist(poses),
            fused=fused.tolist(),
            n_fused=tolist(n_fused))
        images.append(rec)
        print(f"{it['file']}: {rec['counts']}")

    settings = dict(
        img_size=args.img_size,
        letterbox=dict(auto=False, color=114, scaleup=True),
        val=dict(KAPAO_EVAL, two_stage=False, half=False),
        nms=dict(max_det=300, max_wh=4096, classes_person=[0],
                 classes_kp=list(range(1, 18))),
        forward='model(imgs, augment=True, kp_flip, scales=[1], '
        'flips=[None])',
        seed=args.seed,
        width_multiple=cfg['width_multiple'],
        depth_multiple=cfg['depth_multiple'],
        nc=nc,
        num_coords=num_coords,
        small_tensor_size=SMALL_SIZE)
    ref = dict(
        generator=generator_info(args, settings),
        model=info,
        detector_model=det_info,
        tuning=tuning,
        fields=KAPAO_FIELDS,
        images=images)
    write_json(osp.join(out_dir, 'kapao_tiny_ref.json'), ref)
    write_npz(osp.join(out_dir, 'kapao_tiny_tensors.npz'),
              small_tensors(model, m_aug.letterbox, files[0]))
    write_npz(osp.join(out_dir, 'yolov5s6_det_tiny_tensors.npz'),
              small_tensors(det_model, m_aug.letterbox, files[0], pose=False))


KAPAO_FIELDS = {
    'images[].letterbox_sha1': 'sha1 of the letterboxed uint8 HWC BGR image '
    '(C-contiguous bytes) that the network input is made from',
    'images[].nms_persons': 'rows of run_nms (non_max_suppression_kp with '
    'classes=[0]) in input pixels, sorted by score: bboxes x1y1x2y2, '
    'scores = obj * cls, labels (0), keypoints 17 x (x, y)',
    'images[].nms_kp_objects': 'rows of run_nms for classes 1..17 (conf '
    '0.2, IoU 0.25), input pixels; labels = keypoint index + 1; their 34 '
    'pose coordinates are raw and unused',
    'images[].kp_objects_rescaled': 'kp_objects bboxes as post_process_batch '
    'leaves them (rescaled in place to original pixels) when the fusion step '
    'ran, else null',
    'images[].final': 'post_process_batch output, original-image pixels: '
    'bboxes rounded and clipped, scores, keypoints 17 x (x, y, c) with c = 0 '
    'or the fused keypoint object score; fused = [person, keypoint] pairs '
    'with c > 0; n_fused = per-keypoint fusion counts (count_fused)',
}


if __name__ == '__main__':
    main()
