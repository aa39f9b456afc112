"""Estimate the training memory of the paper configs per GPU, without a GPU.

What autograd keeps for the backward pass is counted exactly with
``torch.autograd.graph.saved_tensors_hooks`` during one training forward
(model + loss) of one image at the config's input size, in fp32 and under
autocast (bfloat16 on CPU: 2 bytes per element, as CUDA's float16 AMP, and
autocast casts the same ops). The per-GPU estimate is

    batch_per_gpu x saved activations per image
    + weights, gradients, SGD momentum and the EMA copy (4 x fp32 weights)

It leaves out cuDNN workspaces, the allocator's fragmentation and the
data-loader's pinned buffers, so treat it as a lower bound (real peaks are
typically 10-30 % higher). mmpose's YOLOX-Pose s (its
``yoloxpose_s_8xb32-300e_coco-640.py``) is measured the same way in the same
run as the reference (ratio column). Usage::

    python benchmarks/bench_train_memory.py            # all paper configs
    python benchmarks/bench_train_memory.py configs/kapao_s6_4xb32-500e_coco-1280.py
"""
import argparse
import glob
import os.path as osp
import sys

import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
from mmengine.structures import InstanceData  # noqa: E402
from mmpose.registry import MODELS  # noqa: E402
from mmpose.structures import PoseDataSample  # noqa: E402

import posekit_plugins  # noqa: E402,F401  (registers the modules)

PAPER_CONFIGS = sorted(
    glob.glob(osp.join(ROOT, 'configs', 'yolopose_*6_*.py')) +
    glob.glob(osp.join(ROOT, 'configs', 'kapao_*6_*.py')))
GIB = 2**30


def _sample(size: int, k: int) -> PoseDataSample:
    """One image's ground truth: three persons with every keypoint."""
    g = torch.Generator().manual_seed(0)
    boxes = torch.tensor([[0.1, 0.1, 0.4, 0.9], [0.5, 0.2, 0.7, 0.8],
                          [0.3, 0.5, 0.45, 0.95]]) * size
    kpts = boxes[:, None, :2] + torch.rand(3, k, 2, generator=g) * (
        boxes[:, None, 2:] - boxes[:, None, :2])
    wh = boxes[:, 2:] - boxes[:, :2]
    gt = InstanceData(bboxes=boxes, labels=torch.zeros(3).long(),
                      keypoints=kpts, keypoints_visible=torch.ones(3, k),
                      areas=wh[:, 0] * wh[:, 1])
    ds = PoseDataSample(metainfo=dict(input_size=(size, size),
                                      img_shape=(size, size)))
    ds.gt_instance_labels = gt
    return ds


def saved_bytes(model, size: int, autocast: bool) -> int:
    """Bytes autograd saves in one training forward of one image."""
    total = 0
    seen = set()

    def pack(t):
        nonlocal total
        key = (t.untyped_storage().data_ptr(), t.dtype, tuple(t.shape))
        if key not in seen and t.device.type == 'cpu':
            seen.add(key)
            total += t.numel() * t.element_size()
        return t

    img = torch.rand(1, 3, size, size)
    sample = _sample(size, model.head.num_keypoints)
    model.zero_grad(set_to_none=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), \
            torch.autocast('cpu', dtype=torch.bfloat16, enabled=autocast):
        losses = model.loss(img, [sample])
    model.parse_losses(losses)[0].backward()
    return total


YOLOXPOSE_CFG = 'body_2d_keypoint/yoloxpose/coco/' \
    'yoloxpose_s_8xb32-300e_coco-640.py'  # in mmpose's installed configs


def measure(path: str) -> dict:
    if not osp.isabs(path) and not osp.exists(path):
        import mmpose
        path = osp.join(osp.dirname(mmpose.__file__), '.mim', 'configs', path)
    cfg = Config.fromfile(path)
    init_default_scope('mmpose')
    model_cfg = cfg.model
    model_cfg.pop('data_preprocessor', None)
    model_cfg.backbone.init_cfg = None  # no download
    model = MODELS.build(model_cfg).train()
    size = int(cfg.codec['input_size'][0])
    n_param = sum(p.numel() for p in model.parameters())
    fp32 = saved_bytes(model, size, autocast=False)
    amp = saved_bytes(model, size, autocast=True)
    batch = int(cfg.train_dataloader.batch_size)
    states = 4 * 4 * n_param  # weights, grads, momentum, EMA (fp32)
    return dict(config=osp.basename(path), size=size, batch=batch,
                params_m=n_param / 1e6, act_fp32=fp32 / GIB,
                act_amp=amp / GIB, gpu_fp32=(batch * fp32 + states) / GIB,
                gpu_amp=(batch * amp + states) / GIB)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('configs', nargs='*', default=PAPER_CONFIGS)
    args = parser.parse_args()
    torch.manual_seed(0)
    rows = []
    for path in [YOLOXPOSE_CFG] + args.configs:
        r = measure(path)
        rows.append(r)
        print(r, flush=True)
    print(f'\ntorch {torch.__version__}; estimates per GPU (lower bounds)\n')
    ref = rows[0]['act_amp']
    print('| config | input | batch / GPU | params (M) | saved per image '
          'fp32 / AMP (GiB) | AMP per image / YOLOX-Pose s | per GPU fp32 '
          '(GiB) | per GPU AMP (GiB) | AMP fits 32 GB / 80 GB |')
    print('|---|---|---|---|---|---|---|---|---|')
    for r in rows:
        # 32 / 80 GB cards (V100, A100) have 32 / 80 GiB, ~95 % usable
        fits = ' / '.join('yes' if r['gpu_amp'] * 1.3 < cap * 0.95 else
                          ('maybe' if r['gpu_amp'] < cap * 0.95 else 'no')
                          for cap in (32, 80))
        print(f'| {r["config"]} | {r["size"]} | {r["batch"]} | '
              f'{r["params_m"]:.1f} | {r["act_fp32"]:.3f} / '
              f'{r["act_amp"]:.3f} | {r["act_amp"] / ref:.2f} | '
              f'{r["gpu_fp32"]:.1f} | {r["gpu_amp"]:.1f} | {fits} |')
    print('\nfits: "yes" with 30 % headroom over the estimate, "maybe" '
          'within it, "no" beyond the card.')


if __name__ == '__main__':
    main()
