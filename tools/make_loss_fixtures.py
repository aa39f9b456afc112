"""Make reference training losses of YOLO-Pose and KAPAO from the original code.

The originals (YOLO-Pose: TexasInstruments edgeai-yolov5, branch
``yolo-pose``; KAPAO: wmcnally/kapao) are GPL-3.0 and not part of this
repository: this script imports a checkout of each (one subprocess per
checkout, both have top-level ``models``/``utils`` packages), calls its
``ComputeLoss`` and saves what it returns; none of their code is copied.

Per original it:

1. loads the tiny original-format checkpoint of ``tests/data/onestage``
   (``yolopose_tiny.pt`` / ``kapao_tiny.pt``, made by
   ``tools/make_onestage_fixtures.py``) with the original's
   ``attempt_load`` and runs it on the 4 images of ``data/coco_tiny``,
   letterboxed to ``--img-size`` (256) by the original's ``letterbox``,
   with ``Detect`` in training mode (raw outputs);
2. builds the original's targets from ``data/coco_tiny/test_coco.json`` as
   its data loader does without augmentation: YOLO-Pose: persons with 17
   (x, y) keypoints, invisible ones at 0, through its ``xywhn2xyxy`` (kpt
   mode) and ``xyxy2xywh``; KAPAO: the label lines of its
   ``write_kp_labels`` (person + one keypoint object per labelled keypoint,
   6 decimals) through its ``xywhn2xyxy`` and ``xyxy2xywhn(clip=True,
   eps=1e-3)``;
3. keeps of each raw output only what the loss reads (the objectness
   channel everywhere, all channels at the positives of the original's
   ``build_targets``; zeros elsewhere), so that the fixture stays small;
4. sets ``model.hyp`` to the hyp file with ``train.py``'s rescaling
   (``box *= 3 / nl``, ``cls *= nc / 80 * 3 / nl``, ``obj *= (imgsz /
   640)^2 * 3 / nl``, KAPAO also ``kp *= 3 / nl``; label smoothing 0,
   ``gr = 1``) and calls ``ComputeLoss`` (``kpt_label=True`` /
   ``num_coords=34``), then backpropagates the returned total
   (``loss * bs``; world size 1) to the raw outputs.

Current torch refuses one in-place clamp of the originals'
``build_targets`` (integer cell indices clamped by a float tensor): see
:func:`patch_integer_clamp`, the one shim applied to the originals' run.

Cases: ``batch`` (4 images, 14 persons, two of them without any labelled
keypoint) and ``novis`` (image 40083 with only its person without labelled
keypoints: YOLO-Pose's keypoint loss is 0/0 = NaN there, KAPAO skips it).

Saved per original to ``tests/data/onestage/<name>_loss.npz``: for each case
``<case>_out_<l>`` (the sparse raw outputs), ``<case>_grad_<l>`` (gradients,
obj channel and positives only), ``<case>_pos_<l>`` (positive cells, b a gj
gi), the targets as mmpose would give them (``<case>_gt_img``,
``_gt_bboxes`` xyxy, ``_gt_keypoints``, ``_gt_visible``, input pixels),
``<case>_terms`` (the original's loss items, before ``* bs``) and
``<case>_total``; term names and provenance go to ``<name>_loss.json``.

Usage::

    python tools/make_loss_fixtures.py --yolopose /tmp/orig/yolopose \\
        --kapao /tmp/orig/kapao --deps /tmp/origdeps
"""
import argparse
import importlib
import importlib.util
import json
import os
import os.path as osp
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
ANN = osp.join(ROOT, 'data', 'coco_tiny', 'test_coco.json')
CKPT_DIR = osp.join(ROOT, 'tests', 'data', 'onestage')
NOVIS_ANN = 1202706  # the person of image 40083 without labelled keypoints
TERMS = dict(
    yolopose=('lbox', 'lobj', 'lcls', 'lkpt', 'lkptv', 'loss'),
    kapao=('lbox', 'lobj', 'lcls', 'lkps'))


def onestage_helpers():
    """tools/make_onestage_fixtures.py as a module (letterbox, git info...)."""
    path = osp.join(osp.dirname(osp.abspath(__file__)),
                    'make_onestage_fixtures.py')
    spec = importlib.util.spec_from_file_location('_onestage_fixtures', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--yolopose', help='checkout of edgeai-yolov5 (yolo-pose)')
    p.add_argument('--kapao', help='checkout of wmcnally/kapao')
    p.add_argument('--deps', help="extra folder on the originals' path")
    p.add_argument('--out', default=CKPT_DIR, help='output folder')
    p.add_argument('--img-size', type=int, default=256)
    p.add_argument('--worker', choices=('yolopose', 'kapao'),
                   help=argparse.SUPPRESS)
    p.add_argument('--repo', help=argparse.SUPPRESS)
    return p.parse_args()


def main():
    args = parse_args()
    if args.worker:
        return run_worker(args)
    if not (args.yolopose or args.kapao):
        raise SystemExit('give --yolopose and/or --kapao')
    os.makedirs(args.out, exist_ok=True)
    for name in ('yolopose', 'kapao'):
        repo = getattr(args, name)
        if not repo:
            continue
        cmd = [sys.executable, osp.abspath(__file__), '--worker', name,
               '--repo', osp.abspath(repo), '--out', osp.abspath(args.out),
               '--img-size', str(args.img_size)]
        if args.deps:
            cmd += ['--deps', osp.abspath(args.deps)]
        print(f'== {name}: {repo}', flush=True)
        subprocess.run(cmd, check=True)


# ------------------------------------------------------ worker (one original)
def run_worker(args):
    here = osp.dirname(osp.abspath(__file__))
    sys.path[:] = [p for p in sys.path if osp.abspath(p or '.') != here]
    sys.path.insert(0, args.repo)
    if args.deps:
        sys.path.insert(1, args.deps)
    os.chdir(args.repo)
    import torch
    torch_load = torch.load

    def load_pickled(*a, **kw):  # the originals pickle whole modules
        kw.setdefault('weights_only', False)
        return torch_load(*a, **kw)

    torch.load = load_pickled
    patch_integer_clamp(torch)
    helpers = onestage_helpers()
    if args.worker == 'kapao':
        helpers.ensure_font(args.repo)
    helpers.seed_all(0)
    make(args, helpers)


def patch_integer_clamp(torch):
    """Let ``long_tensor.clamp_(0, float_tensor)`` run as on the torch the
    originals were written for (1.8: the bound is cast to the tensor's
    dtype); current torch refuses it, and ``build_targets`` clamps the cell
    indices with the grid size taken from a float gain tensor. The bounds
    are integral there, so the cast is exact."""
    clamp_ = torch.Tensor.clamp_

    def cast(v, like):
        if isinstance(v, torch.Tensor) and not like.is_floating_point() \
                and v.is_floating_point():
            return int(v)
        return v

    def patched(self, min=None, max=None):
        return clamp_(self, cast(min, self), cast(max, self))

    torch.Tensor.clamp_ = patched


def load_annotations():
    with open(ANN) as f:
        coco = json.load(f)
    images = {im['id']: im for im in coco['images']}
    anns = {}
    for a in coco['annotations']:
        anns.setdefault(a['image_id'], []).append(a)
    return images, anns


def yolopose_labels(anns, shape0, item, size, m_gen):
    """One image's targets as YOLO-Pose's loader makes them (no
    augmentation): class, xywh, 17 x (x, y), normalised, invisible = 0."""
    import numpy as np
    h0, w0 = shape0
    rows = []
    for a in anns:
        x, y, w, h = a['bbox']
        kp = np.asarray(a['keypoints'], np.float64).reshape(-1, 3)
        kxy = np.where(kp[:, 2:] > 0, kp[:, :2] / [w0, h0], 0.0)
        rows.append([0, (x + w / 2) / w0, (y + h / 2) / h0, w / w0, h / h0] +
                    kxy.ravel().tolist())
    labels = np.asarray(rows, np.float32)
    rw, rh = item['ratio']
    padw, padh = item['pad']
    labels[:, 1:] = m_gen.xywhn2xyxy(labels[:, 1:], rw * w0, rh * h0, padw,
                                     padh, kpt_label=True)
    labels[:, 1:5] = m_gen.xyxy2xywh(labels[:, 1:5])
    labels[:, [2, 4]] /= size
    labels[:, [1, 3]] /= size
    labels[:, 6::2] /= size
    labels[:, 5::2] /= size
    return labels


def kapao_labels(anns, shape0, item, size, kp_bbox, m_gen):
    """One image's targets as KAPAO's loader makes them (no augmentation)
    from the label lines of its ``write_kp_labels``."""
    import numpy as np
    h0, w0 = shape0
    def line(cls, *values):  # write_kp_labels' '{:.6f}' columns
        return ' '.join([str(cls)] + [f'{v:.6f}' for v in values])

    lines = []
    for a in anns:
        x, y, w, h = a['bbox']
        kp = np.asarray(a['keypoints'], np.float64).reshape(-1, 3)
        lines.append(
            line(0, (x + w / 2) / w0, (y + h / 2) / h0, w / w0, h / h0,
                 *(kp / [w0, h0, 1]).ravel()))
        side = kp_bbox * max(h0, w0)
        for i, (kx, ky, v) in enumerate(kp):
            if v:
                lines.append(
                    line(i + 1, kx / w0, ky / h0, side / w0, side / h0,
                         *[0.0] * kp.size))
    labels = np.array([ln.split() for ln in lines], dtype=np.float32)
    rw, rh = item['ratio']
    padw, padh = item['pad']
    labels[:, 1:] = m_gen.xywhn2xyxy(labels[:, 1:], rw * w0, rh * h0, padw,
                                     padh)
    labels[:, 1:] = m_gen.xyxy2xywhn(labels[:, 1:], w=size, h=size,
                                     clip=True, eps=1E-3)
    return labels


def gt_for_posekit(targets, size, name):
    """The persons of the original's targets as mmpose data samples would
    hold them: image index, xyxy boxes, (K, 2) keypoints and visibility in
    input pixels (float64 maths, float32 values)."""
    import numpy as np
    t = targets.numpy().astype(np.float64)
    t = t[t[:, 1] == 0]  # persons (KAPAO's keypoint objects: the head's)
    box = t[:, 2:6] * size
    xyxy = np.concatenate([box[:, :2] - box[:, 2:] / 2,
                           box[:, :2] + box[:, 2:] / 2], 1)
    if name == 'yolopose':
        kxy = t[:, 6:].reshape(len(t), -1, 2) * size
        vis = (kxy != 0).any(-1)  # the loader keeps x = y = 0 for v = 0
    else:
        kp = t[:, 6:].reshape(len(t), -1, 3)
        kxy, vis = kp[..., :2] * size, kp[..., 2] > 0
    kxy = np.where(vis[..., None], kxy, 0.0)
    return dict(gt_img=t[:, 0].astype(np.int64),
                gt_bboxes=xyxy.astype(np.float32),
                gt_keypoints=kxy.astype(np.float32),
                gt_visible=vis.astype(np.float32))


def make(args, helpers):
    import numpy as np
    import torch
    m_exp = importlib.import_module('models.experimental')
    m_gen = importlib.import_module('utils.general')
    m_loss = importlib.import_module('utils.loss')
    m_data = importlib.import_module(
        'utils.datasets' if args.worker == 'yolopose' else
        'utils.augmentations')
    name, size = args.worker, args.img_size
    ckpt = osp.join(CKPT_DIR, f'{name}_tiny.pt')
    model = m_exp.attempt_load(ckpt, map_location='cpu').float().eval()
    det = model.model[-1]
    nl, nc = det.nl, det.nc
    if name == 'yolopose':
        hyp = helpers.load_yaml(osp.join(args.repo, 'data', 'hyp.scratch.yaml'))
    else:
        hyp = helpers.load_yaml(
            osp.join(args.repo, 'data', 'hyps', 'hyp.kp-p6.yaml'))
    # train.py's rescaling
    hyp['box'] *= 3. / nl
    hyp['cls'] *= nc / 80. * 3. / nl
    hyp['obj'] *= (size / 640)**2 * 3. / nl
    if name == 'kapao':
        hyp['kp'] *= 3. / nl
    hyp['label_smoothing'] = 0.0
    model.hyp, model.gr, model.nc = hyp, 1.0, nc
    if name == 'yolopose':
        compute_loss = m_loss.ComputeLoss(model, kpt_label=True)
    else:
        compute_loss = m_loss.ComputeLoss(model, autobalance=False,
                                          num_coords=det.num_coords)

    images, anns = load_annotations()
    by_file = {im['file_name']: i for i, im in images.items()}
    files = helpers.image_files()
    items = helpers.letterbox_images(m_data.letterbox, files, size)
    cases = dict(batch=[(it, anns[by_file[it['file']]]) for it in items])
    novis = [(it, [a for a in anns[by_file[it['file']]]
                   if a['id'] == NOVIS_ANN]) for it in items]
    cases['novis'] = [c for c in novis if c[1]]

    arrays, meta = {}, dict(cases={})
    for case, batch in cases.items():
        x = torch.cat([helpers.to_input(it['img']) for it, _ in batch])
        det.training = True
        try:
            with torch.no_grad():
                raw = [o.float() for o in model(x)]
        finally:
            det.training = False
        tgts = []
        for i, (it, a) in enumerate(batch):
            if name == 'yolopose':
                lab = yolopose_labels(a, it['shape0'], it, size, m_gen)
            else:
                lab = kapao_labels(a, it['shape0'], it, size,
                                   hyp['kp_bbox'], m_gen)
            t = torch.zeros((len(lab), lab.shape[1] + 1))
            t[:, 0] = i
            t[:, 1:] = torch.from_numpy(lab)
            tgts.append(t)
        targets = torch.cat(tgts)
        # keep what the loss reads: obj everywhere, all at the positives
        indices = compute_loss.build_targets(raw, targets)[3]
        outs = []
        for lvl, (o, (b, a, gj, gi)) in enumerate(zip(raw, indices)):
            pos = torch.unique(torch.stack([b, a, gj, gi], 1), dim=0)
            sparse = torch.zeros_like(o)
            sparse[..., 4] = o[..., 4]
            sparse[tuple(pos.T)] = o[tuple(pos.T)]
            outs.append(sparse.requires_grad_(True))
            arrays[f'{case}_pos_{lvl}'] = pos.numpy().astype(np.int16)
            arrays[f'{case}_obj_{lvl}'] = sparse[..., 4].detach().numpy()
            arrays[f'{case}_posval_{lvl}'] = \
                sparse[tuple(pos.T)].detach().numpy()
            arrays[f'{case}_shape_{lvl}'] = np.array(o.shape)
        total, items_ = compute_loss(outs, targets)
        total = total.sum()
        if torch.isfinite(total):
            total.backward()
        for lvl, (o, pos) in enumerate(
                zip(outs, (arrays[f'{case}_pos_{lvl}'] for lvl in range(nl)))):
            g = o.grad if o.grad is not None else torch.full_like(
                o, float('nan'))
            p = tuple(torch.from_numpy(pos.astype(np.int64)).T)
            # zero elsewhere (checked here, not stored)
            rest = g.clone()
            rest[..., 4] = 0
            rest[p] = 0
            assert torch.isnan(g).all() or not rest.any(), 'grad off-support'
            arrays[f'{case}_gradobj_{lvl}'] = g[..., 4].numpy()
            arrays[f'{case}_gradpos_{lvl}'] = g[p].numpy()
        arrays[f'{case}_terms'] = items_.numpy()
        arrays[f'{case}_total'] = total.detach().numpy()
        for k, v in gt_for_posekit(targets, size, name).items():
            arrays[f'{case}_{k}'] = v
        meta['cases'][case] = dict(
            images=[it['file'] for it, _ in batch],
            annotations=[[a['id'] for a in an] for _, an in batch],
            num_targets=int(targets.shape[0]),
            num_positives=[int(arrays[f'{case}_pos_{lvl}'].shape[0])
                           for lvl in range(nl)],
            terms=dict(zip(TERMS[name], items_.tolist())),
            total=float(total.detach()))
        print(case, meta['cases'][case]['terms'], 'total', float(total.detach()))
    meta.update(
        terms=list(TERMS[name]),
        input_size=size,
        hyp_after_train_py_rescaling={
            k: hyp[k] for k in ('box', 'obj', 'cls', 'kpt', 'kp')
            if k in hyp},
        checkpoint=osp.relpath(ckpt, ROOT),
        original=helpers.git_info(args.repo),
        command='python tools/make_loss_fixtures.py --yolopose PATH '
        '--kapao PATH --deps DIR',
        versions=dict(torch=torch.__version__, numpy=np.__version__),
        note='terms: the original ComputeLoss items (before * bs); total: '
        'the returned loss (* bs, world size 1); grads of total w.r.t. the '
        'raw outputs')
    helpers.write_npz(osp.join(args.out, f'{name}_loss.npz'), arrays)
    with open(osp.join(args.out, f'{name}_loss.json'), 'w') as f:
        json.dump(meta, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
