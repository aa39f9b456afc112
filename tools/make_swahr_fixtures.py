"""Make reference data for the HigherHRNet + SWAHR port from the original code.

The original (greatlog/SWAHR-HumanPose, derived from HigherHRNet) is GPL-3.0
and is not part of this repository. This script needs a checkout of it,
given by path; it imports the checkout's ``lib`` in a subprocess, calls it
and saves what it returns. None of its code is copied here. It:

1. builds the original ``pose_higher_hrnet`` from
   ``experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml`` with seeded
   random weights, narrowed (``--width-div``: every ``NUM_CHANNELS`` of the
   stages and of the deconv divided; ``--modules``/``--blocks``: number of
   HRNet modules and blocks per branch of stages 3 and 4; the stem and
   ``layer1`` are fixed in the original's code), takes the BN statistics
   from the ``data/coco_tiny`` images (``calibrate_bn`` of
   ``tools/make_onestage_fixtures.py``) and re-sets the final layers so that
   the heatmap channels have peaks above the detection threshold and the
   tags spread over more than the tag threshold;
2. saves its state dict as ``dist_valid.py`` loads it
   (``model.load_state_dict(torch.load(f), strict=True)``), with the
   floating-point tensors stored as float16 to keep the file small: the
   model is rounded to these values before anything below is run, and
   ``load_state_dict`` casts them back to float32;
3. runs the original's test path on the 4 images of ``data/coco_tiny`` as
   ``tools/dist_valid.py`` does at scale 1 with flip test:
   ``resize_align_multi_scale``, ``ToTensor`` + ``Normalize``,
   ``get_multi_stage_outputs`` (flip, PROJECT2IMAGE), ``aggregate_results``,
   ``HeatmapParser.parse`` (ADJUST, REFINE), ``get_final_preds`` and the
   scores. The raw model outputs (plain and flipped batch, per resolution)
   are rounded to float16 (stored so) and the test path runs on the rounded
   values, so that a decoder given the stored outputs must reproduce the
   stored results exactly;
4. one training step's loss: the original's training dataset
   (``CocoKeypoints`` with its random affine, flip, ``HeatmapGenerator`` and
   ``JointsGenerator`` at both resolutions and its masks, seeded) gives two
   images of ``data/coco_tiny/test_coco.json``; the model output on them goes
   through the original's ``MultiLossFactory`` (SWAHR heatmap + scale
   losses, AE push/pull losses).

Outputs (``tests/data/swahr`` by default):

- ``orig_tiny.pth``: the checkpoint (state dict);
- ``orig_test.npz``: per image ``i``: ``img{i}`` (the resized uint8 RGB image
  the model input is made of), ``out{i}_{r}`` / ``flip{i}_{r}`` (raw outputs
  at resolution ``r`` = 0 (1/4) and 1 (1/2) without the SWAHR scale channels,
  i.e. channels ``[K:]`` of the original's output, float16; the parser never
  reads the scale channels), ``agg_idx{i}`` / ``agg_hm{i}`` / ``agg_tag{i}``
  (the aggregated heatmaps (K, H, W) and tags (K, H, W, 1) at sampled pixels
  ``agg_idx``, and ``agg_hm_sum{i}`` / ``agg_tag_sum{i}`` per-channel sums
  in float64: the full maps are at input resolution and too large to keep),
  ``grouped{i}`` (the people as ``HeatmapParser.parse`` returns them after
  adjust and refine: (N, K, 3 + L) rows of x, y, value, tags, in input
  pixels) and ``keypoints{i}`` (``get_final_preds``: (N, K, 3) in
  original-image pixels);
- ``orig_test.json``: settings, per image the size/center/scale and the
  person scores;
- ``orig_loss.npz`` / ``orig_loss.json``: the loss step (inputs, targets,
  masks, joints, outputs, losses).

Usage (``yacs`` must be importable by the original: install it outside the
virtual environment, e.g. ``pip install --target /tmp/swahrdeps yacs``; the
original imports ``IPython`` and ``crowdposetools`` at import time without
needing them here, the worker puts empty stand-ins in ``sys.modules`` when
they are missing)::

    python tools/make_swahr_fixtures.py --swahr /tmp/orig/swahr \\
        --deps /tmp/swahrdeps
"""
import argparse
import json
import os
import os.path as osp
import shlex
import subprocess
import sys
import tempfile
import types

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
IMAGE_DIR = osp.join(ROOT, 'data', 'coco_tiny')
ANN_FILE = osp.join(IMAGE_DIR, 'test_coco.json')
YAML = 'experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml'
LOSS_IMAGES = ('000000040083.jpg', '000000196141.jpg')


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--swahr', required=True,
                        help='checkout of greatlog/SWAHR-HumanPose')
    parser.add_argument('--deps', help='folder with yacs (PYTHONPATH)')
    parser.add_argument('--out', default=osp.join(ROOT, 'tests', 'data',
                                                  'swahr'))
    parser.add_argument('--input-size', type=int, default=64,
                        help='DATASET.INPUT_SIZE at test time')
    parser.add_argument('--train-size', type=int, default=64,
                        help='DATASET.INPUT_SIZE of the loss step')
    parser.add_argument('--width-div', type=int, default=8)
    parser.add_argument('--modules', type=int, default=1,
                        help='NUM_MODULES of stages 3 and 4')
    parser.add_argument('--blocks', type=int, default=1,
                        help='NUM_BLOCKS per branch of stages 2-4')
    parser.add_argument('--samples', type=int, default=96,
                        help='sampled pixels of the aggregated maps')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--worker', action='store_true',
                        help=argparse.SUPPRESS)
    parser.add_argument('--command', help=argparse.SUPPRESS)
    return parser.parse_args()


def main():
    args = parse_args()
    if args.worker:
        return run_worker(args)
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    command = ' '.join(['python', osp.relpath(osp.abspath(__file__), ROOT)] +
                       [shlex.quote(a) for a in sys.argv[1:]])
    cmd = [sys.executable, osp.abspath(__file__), '--worker', '--command',
           command] + [a for a in sys.argv[1:]]
    cmd += ['--out', out]
    subprocess.run(cmd, check=True)
    total = 0
    for f in sorted(os.listdir(out)):
        if f.startswith('orig_'):
            size = osp.getsize(osp.join(out, f))
            total += size
            print(f'  {f:24s} {size / 1024:9.1f} KiB')
    print(f'  {"total":24s} {total / 1024:9.1f} KiB')


# --------------------------------------------------------------------------
# worker: runs with the checkout's lib on sys.path


def stub_missing(name, **attrs):
    try:
        __import__(name)
    except ImportError:
        mod = types.ModuleType(name)
        for k, v in attrs.items():
            setattr(mod, k, v)
        sys.modules[name] = mod
        return mod
    return None


def run_worker(args):
    sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
    import make_onestage_fixtures as mof  # BN calibration, json helpers
    sys.path.pop(0)
    repo = osp.abspath(args.swahr)
    sys.path.insert(0, osp.join(repo, 'lib'))
    if args.deps:
        sys.path.insert(1, osp.abspath(args.deps))
    stub_missing('IPython', embed=lambda *a, **k: None)
    cpt = stub_missing('crowdposetools')
    if cpt is not None:
        sub = types.ModuleType('crowdposetools.cocoeval')
        sub.COCOeval = None
        cpt.cocoeval = sub
        sys.modules['crowdposetools.cocoeval'] = sub

    import torch
    mof.seed_all(args.seed)
    torch.set_num_threads(2)

    cfg = make_cfg(args, repo)
    import models  # noqa: F401  (the original's lib/models)
    from models.pose_higher_hrnet import get_pose_net
    model = get_pose_net(cfg, is_train=False)
    model.eval()

    images = load_images()
    condition(model, cfg, images, args.seed, mof)

    ckpt = osp.join(args.out, 'orig_tiny.pth')
    state = {
        k: (v.half() if v.is_floating_point() else v)
        for k, v in model.state_dict().items()
    }
    torch.save(state, ckpt)
    # load it back as dist_valid.py does
    model2 = get_pose_net(cfg, is_train=False)
    model2.load_state_dict(torch.load(ckpt), strict=True)
    model2.eval()
    for (k, a), b in zip(model.state_dict().items(),
                         model2.state_dict().values()):
        assert torch.equal(a, b), k
    print(f'wrote {ckpt} ({osp.getsize(ckpt) / 1024:.1f} KiB), '
          f'{sum(p.numel() for p in model.parameters())} parameters')

    test_path(model2, cfg, images, args, mof)
    loss_step(model2, args, repo, mof)


def make_cfg(args, repo, train_size=None):
    from config import cfg as default_cfg
    cfg = default_cfg.clone()
    cfg.defrost()
    cfg.merge_from_file(osp.join(repo, YAML))
    extra = cfg.MODEL.EXTRA
    for name in ('STAGE2', 'STAGE3', 'STAGE4'):
        st = extra[name]
        st.NUM_CHANNELS = [c // args.width_div for c in st.NUM_CHANNELS]
        st.NUM_BLOCKS = [args.blocks] * len(st.NUM_BLOCKS)
        if name != 'STAGE2':
            st.NUM_MODULES = args.modules
    extra.DECONV.NUM_CHANNELS = [
        c // args.width_div for c in extra.DECONV.NUM_CHANNELS
    ]
    size = train_size or args.input_size
    cfg.DATASET.INPUT_SIZE = size
    cfg.DATASET.OUTPUT_SIZE = [size // 4, size // 2]
    cfg.MODEL.INIT_WEIGHTS = False
    cfg.freeze()
    return cfg


def load_images():
    import cv2
    items = []
    for f in sorted(os.listdir(IMAGE_DIR)):
        if not f.endswith('.jpg'):
            continue
        # as the original's CocoDataset.__getitem__
        img = cv2.imread(osp.join(IMAGE_DIR, f),
                         cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
        items.append((f, cv2.cvtColor(img, cv2.COLOR_BGR2RGB)))
    return items


def test_transform():
    import torchvision
    # tools/dist_valid.py's transforms for pose_higher_hrnet
    return torchvision.transforms.Compose([
        torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize(
            mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
    ])


def test_inputs(cfg, images):
    from utils.transforms import resize_align_multi_scale
    tf = test_transform()
    out = []
    for f, img in images:
        resized, center, scale = resize_align_multi_scale(
            img, cfg.DATASET.INPUT_SIZE, 1.0, min(cfg.TEST.SCALE_FACTOR))
        out.append((f, img, resized, center, scale, tf(resized)[None]))
    return out


def standardise_rows(conv, feats, rows, std, mean, gen):
    """Random weights for ``rows`` of a 1x1 conv, then rescaled so that its
    output on ``feats`` has per-channel mean ``mean`` and std ``std``."""
    import torch
    with torch.no_grad():
        w = torch.randn(len(rows), conv.in_channels, generator=gen)
        x = feats.permute(1, 0, 2, 3).reshape(conv.in_channels, -1)
        y = w @ x
        mu, sd = y.mean(1), y.std(1).clamp_min(1e-6)
        w = w * (std / sd)[:, None]
        b = mean - mu * std / sd
        conv.weight[rows] = w.view(len(rows), -1, 1, 1)
        conv.bias[rows] = b


def set_tag_rows(conv, feats, rows, gen):
    """Tags of all joints along the first principal component of the
    features (the smoothest direction on these images) plus a little noise:
    nearby joints get similar tags, so the parser groups them into people."""
    import torch
    with torch.no_grad():
        x = feats.permute(1, 0, 2, 3).reshape(conv.in_channels, -1)
        mu = x.mean(1, keepdim=True)
        u = torch.linalg.svd(x - mu, full_matrices=False)[0][:, 0]
        w = u[None] + TAG_NOISE * torch.randn(
            len(rows), conv.in_channels, generator=gen)
        y = w @ x
        m, sd = y.mean(1), y.std(1).clamp_min(1e-6)
        conv.weight[rows] = (w * (TAG_STD / sd)[:, None]).view(
            len(rows), -1, 1, 1)
        conv.bias[rows] = -m * TAG_STD / sd


# heatmap channels: per-channel mean and std of the raw output on the
# calibration images; tags: std (mean 0). Chosen so that the random model's
# aggregated heatmaps have a few dozen NMS peaks above DETECTION_THRESHOLD
# (0.12) per image and tags differ by more than TAG_THRESHOLD (1) across it.
HEATMAP_MEAN, HEATMAP_STD = 0.0, 0.1
TAG_STD = 2.0
TAG_NOISE = 0.1
SCALE_STD = 0.3


def condition(model, cfg, images, seed, mof):
    import torch
    K = cfg.MODEL.NUM_JOINTS
    inputs = test_inputs(cfg, images)
    h = min(t.shape[2] for *_, t in inputs)
    w = min(t.shape[3] for *_, t in inputs)
    batch = torch.cat([t[:, :, :h, :w] for *_, t in inputs])
    gen = torch.Generator().manual_seed(seed + 1)
    feats = {}

    def hook(name):
        return lambda m, i: feats.__setitem__(name, i[0].detach())

    handles = [
        model.final_layers[i].register_forward_pre_hook(hook(i))
        for i in range(len(model.final_layers))
    ]
    for i, fl in enumerate(model.final_layers):
        mof.calibrate_bn(model, batch, seed)
        with torch.no_grad():
            model(batch)
        rows_hm = list(range(K))
        standardise_rows(fl, feats[i], rows_hm, HEATMAP_STD, HEATMAP_MEAN,
                         gen)
        if fl.out_channels > K:
            set_tag_rows(fl, feats[i], list(range(K, fl.out_channels)), gen)
    for h_ in handles:
        h_.remove()
    with torch.no_grad():
        for layer in model.conv_scale_layers:
            conv = layer[-1]
            conv.weight.normal_(0, 1, generator=gen)
            conv.weight.mul_(SCALE_STD / conv.weight[0].numel()**0.5)
            conv.bias.zero_()
    model.half().float()
    model.eval()


def r16(t):
    return t.half().float()


class StoredOutputs:
    """Stands for the model in ``get_multi_stage_outputs``: returns the
    (float16-rounded) outputs of the plain and then of the flipped batch."""

    def __init__(self, plain, flipped):
        self.queue = [plain, flipped]

    def __call__(self, image):
        return tuple(self.queue.pop(0))


def test_path(model, cfg, images, args, mof):
    import numpy as np
    import torch
    from core.group import HeatmapParser
    from core.inference import aggregate_results, get_multi_stage_outputs
    from utils.transforms import get_final_preds, get_multi_scale_size

    K = cfg.DATASET.NUM_JOINTS
    parser = HeatmapParser(cfg)
    arrays = {}
    records = []
    rng = np.random.RandomState(args.seed)
    for i, (f, img, resized, center, scale, x) in enumerate(
            test_inputs(cfg, images)):
        base_size, _, _ = get_multi_scale_size(
            img, cfg.DATASET.INPUT_SIZE, 1.0, min(cfg.TEST.SCALE_FACTOR))
        with torch.no_grad():
            plain = [r16(o) for o in model(x)]
            flipped = [r16(o) for o in model(torch.flip(x, [3]))]
            outputs, heatmaps, tags = get_multi_stage_outputs(
                cfg, StoredOutputs(plain, flipped), x, cfg.TEST.FLIP_TEST,
                cfg.TEST.PROJECT2IMAGE, base_size)
            final_heatmaps, tags_list = aggregate_results(
                cfg, 1.0, None, [], heatmaps, tags)
            final_heatmaps = final_heatmaps / float(len(cfg.TEST.SCALE_FACTOR))
            tags = torch.cat(tags_list, dim=4)
            grouped, scores = parser.parse(final_heatmaps, tags,
                                           cfg.TEST.ADJUST, cfg.TEST.REFINE)
            final_results = get_final_preds(
                grouped, center, scale,
                [final_heatmaps.size(3), final_heatmaps.size(2)])
        arrays[f'img{i}'] = resized
        for r in range(len(plain)):
            arrays[f'out{i}_{r}'] = plain[r][0, K:].numpy().astype(np.float16)
            arrays[f'flip{i}_{r}'] = flipped[r][0, K:].numpy().astype(
                np.float16)
        hm = final_heatmaps[0].numpy()
        tg = tags[0].numpy()
        H, W = hm.shape[1:]
        idx = rng.choice(H * W, size=min(args.samples, H * W), replace=False)
        arrays[f'agg_idx{i}'] = idx.astype(np.int32)
        arrays[f'agg_hm{i}'] = hm.reshape(K, -1)[:, idx]
        arrays[f'agg_tag{i}'] = tg.reshape(K, H * W, -1)[:, idx]
        arrays[f'agg_hm_sum{i}'] = hm.astype(np.float64).sum((1, 2))
        arrays[f'agg_tag_sum{i}'] = tg.astype(np.float64).sum((1, 2))
        people = grouped[0]
        records.append(
            dict(
                file=f,
                image_shape=list(img.shape),
                input_shape=list(x.shape),
                base_size=[int(v) for v in base_size],
                center=mof.tolist(np.asarray(center, np.float64)),
                scale=mof.tolist(np.asarray(scale, np.float64)),
                heatmap_shape=[K, H, W],
                num_people=len(people),
                scores=mof.tolist(np.asarray(scores, np.float32))))
        L = tg.shape[-1]
        arrays[f'grouped{i}'] = np.asarray(
            people, np.float32).reshape(len(people), K, 3 + L)
        arrays[f'keypoints{i}'] = np.asarray(
            [p[:, :3] for p in final_results], np.float64).reshape(-1, K, 3)
        print(f'{f}: input {tuple(x.shape)}, maps {H}x{W}, '
              f'{len(people)} people, scores '
              f'{[round(float(s), 3) for s in scores]}')
    test = cfg.TEST
    settings = dict(
        yaml=YAML,
        input_size=cfg.DATASET.INPUT_SIZE,
        width_div=args.width_div,
        modules=args.modules,
        blocks=args.blocks,
        stage_channels=[list(cfg.MODEL.EXTRA[s].NUM_CHANNELS)
                        for s in ('STAGE2', 'STAGE3', 'STAGE4')],
        deconv_channels=list(cfg.MODEL.EXTRA.DECONV.NUM_CHANNELS),
        num_joints=K,
        flip_index=list(flip_index()),
        test=dict(
            FLIP_TEST=test.FLIP_TEST, ADJUST=test.ADJUST, REFINE=test.REFINE,
            PROJECT2IMAGE=test.PROJECT2IMAGE,
            DETECTION_THRESHOLD=test.DETECTION_THRESHOLD,
            TAG_THRESHOLD=test.TAG_THRESHOLD,
            USE_DETECTION_VAL=test.USE_DETECTION_VAL,
            IGNORE_TOO_MUCH=test.IGNORE_TOO_MUCH,
            NMS_KERNEL=test.NMS_KERNEL, NMS_PADDING=test.NMS_PADDING,
            MAX_NUM_PEOPLE=cfg.DATASET.MAX_NUM_PEOPLE,
            WITH_HEATMAPS=list(test.WITH_HEATMAPS),
            WITH_AE=list(test.WITH_AE),
            SCALE_FACTOR=list(test.SCALE_FACTOR)),
        loss=dict(WITH_HEATMAPS_LOSS=list(cfg.LOSS.WITH_HEATMAPS_LOSS),
                  WITH_AE_LOSS=list(cfg.LOSS.WITH_AE_LOSS)),
        conditioning=dict(heatmap_mean=HEATMAP_MEAN,
                          heatmap_std=HEATMAP_STD, tag_std=TAG_STD, tag_noise=TAG_NOISE,
                          scale_std=SCALE_STD, bn=mof.bn_info(args.seed)),
        normalize=dict(mean=[0.485, 0.456, 0.406],
                       std=[0.229, 0.224, 0.225]))
    meta = dict(generator=generator_info(args), settings=settings,
                images=records)
    mof.write_npz(osp.join(args.out, 'orig_test.npz'), arrays)
    mof.write_json(osp.join(args.out, 'orig_test.json'), meta)


def flip_index():
    from dataset.transforms import FLIP_CONFIG
    return FLIP_CONFIG['COCO']


def generator_info(args):
    import numpy as np
    import torch
    return dict(script='tools/make_swahr_fixtures.py', command=args.command,
                original=git_info(osp.abspath(args.swahr)),
                versions=dict(torch=torch.__version__, numpy=np.__version__),
                note='random-weight model; reference data only')


def git_info(repo):
    def git(*cmd):
        return subprocess.run(['git', '-C', repo, *cmd], capture_output=True,
                              text=True).stdout.strip()
    return dict(commit=git('rev-parse', 'HEAD'),
                modified=git('status', '--porcelain', '-uno'))


def loss_step(model, args, repo, mof):
    """One fixed batch through the original's training data path and loss."""
    import random

    import core.loss as core_loss
    import numpy as np
    import torch
    from core.loss import MultiLossFactory
    from dataset.build import build_dataset

    # AELoss returns make_input(zeros, need_cuda=True) for an image with
    # fewer than two people: keep that zero on the CPU (no other change)
    make_input = core_loss.make_input
    core_loss.make_input = lambda t, requires_grad=False, need_cuda=True: \
        make_input(t, requires_grad, False)

    cfg = make_cfg(args, repo, train_size=args.train_size)
    cfg.defrost()
    with tempfile.TemporaryDirectory() as root:
        os.makedirs(osp.join(root, 'annotations'))
        os.makedirs(osp.join(root, 'images', 'train2017'))
        os.symlink(ANN_FILE, osp.join(root, 'annotations',
                                      'person_keypoints_train2017.json'))
        for f in LOSS_IMAGES:
            os.symlink(osp.join(IMAGE_DIR, f),
                       osp.join(root, 'images', 'train2017', f))
        cfg.DATASET.ROOT = root
        cfg.freeze()
        dataset = build_dataset(cfg, is_train=True)
        files = [dataset.coco.loadImgs(i)[0]['file_name'] for i in dataset.ids]
        random.seed(args.seed)
        np.random.seed(args.seed)
        torch.manual_seed(args.seed)
        items = [dataset[files.index(f)] for f in LOSS_IMAGES]
    imgs = r16(torch.stack([it[0] for it in items]))
    n_res = len(cfg.DATASET.OUTPUT_SIZE)
    heatmaps = [r16(torch.stack([torch.from_numpy(it[1][r]) for it in items]))
                for r in range(n_res)]
    masks = [torch.stack([torch.from_numpy(it[2][r]) for it in items])
             for r in range(n_res)]
    joints = [torch.stack([torch.from_numpy(it[3][r]) for it in items])
              for r in range(n_res)]
    with torch.no_grad():
        outputs = [r16(o) for o in model(imgs)]
    loss_fn = MultiLossFactory(cfg)
    with torch.no_grad():
        hm_l, sc_l, push_l, pull_l = loss_fn(outputs, heatmaps, masks, joints)
    arrays = dict(input=imgs.numpy().astype(np.float16))
    for r in range(n_res):
        arrays[f'output_{r}'] = outputs[r].numpy().astype(np.float16)
        arrays[f'heatmaps_{r}'] = heatmaps[r].numpy().astype(np.float16)
        arrays[f'mask_{r}'] = masks[r].numpy().astype(bool)
        arrays[f'joints_{r}'] = joints[r].numpy().astype(np.int32)

    def lst(v):
        return None if v is None else mof.tolist(v.float())

    meta = dict(
        generator=generator_info(args),
        files=list(LOSS_IMAGES),
        input_size=cfg.DATASET.INPUT_SIZE,
        output_size=list(cfg.DATASET.OUTPUT_SIZE),
        sigma=cfg.DATASET.SIGMA,
        loss_cfg=dict(
            AE_LOSS_TYPE=cfg.LOSS.AE_LOSS_TYPE,
            WITH_AE_LOSS=list(cfg.LOSS.WITH_AE_LOSS),
            WITH_HEATMAPS_LOSS=list(cfg.LOSS.WITH_HEATMAPS_LOSS),
            HEATMAPS_LOSS_FACTOR=list(cfg.LOSS.HEATMAPS_LOSS_FACTOR),
            PUSH_LOSS_FACTOR=list(cfg.LOSS.PUSH_LOSS_FACTOR),
            PULL_LOSS_FACTOR=list(cfg.LOSS.PULL_LOSS_FACTOR)),
        note=('per image (batch of 2) and per resolution, as '
              'MultiLossFactory returns them (factors applied); the '
              'outputs are the float16-rounded model outputs on the '
              'float16-rounded input; channels per resolution: '
              '[scale K, heatmaps K, tags K (1/4 only)]'),
        heatmaps_loss=[lst(v) for v in hm_l],
        scale_loss=[lst(v) for v in sc_l],
        push_loss=[lst(v) for v in push_l],
        pull_loss=[lst(v) for v in pull_l])
    mof.write_npz(osp.join(args.out, 'orig_loss.npz'), arrays)
    mof.write_json(osp.join(args.out, 'orig_loss.json'), meta)
    print('loss:', json.dumps({k: meta[k] for k in (
        'heatmaps_loss', 'scale_loss', 'push_loss', 'pull_loss')}))


if __name__ == '__main__':
    main()
