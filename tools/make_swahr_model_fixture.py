"""Build the original SWAHR (HigherHRNet + SWAHR) model at a tiny width,
save its state dict as the authors release theirs, and its raw outputs on
one ``data/coco_tiny`` image, for the converter and head tests.

Runs the authors' code (greatlog/SWAHR-HumanPose, GPL-3.0) from a checkout;
nothing of it is copied here. Its dependencies (yacs, ...) may live outside
the project's environment::

    pip install --target /tmp/swahrdeps yacs munkres json_tricks
    PYTHONPATH=/tmp/swahrdeps python tools/make_swahr_model_fixture.py \
        --orig /tmp/orig/swahr --out tests/data/swahr

Writes ``model_tiny_swahr.pth`` (a plain state dict without ``module.``
prefix, as ``tools/dist_train.py`` saves ``final_state.pth`` and
``tools/dist_valid.py`` loads ``TEST.MODEL_FILE``; the tests drop its
``conv_scale_layers.*`` keys for a plain HigherHRNet checkpoint) and
``model_tiny_swahr_outputs.npz``: the input image (uint8 RGB,
256x256), the original model's outputs at 1/4 and 1/2 (float16, eval mode)
and their float64 per-channel sums and absolute sums (float32 model).
"""
import argparse
import os
import os.path as osp
import sys
import types

import numpy as np

# widths of HRNet-W32 divided by 8; one module and one block per branch
TINY_OPTS = [
    'MODEL.EXTRA.STAGE2.NUM_CHANNELS', [4, 8],
    'MODEL.EXTRA.STAGE2.NUM_BLOCKS', [1, 1],
    'MODEL.EXTRA.STAGE3.NUM_MODULES', 1,
    'MODEL.EXTRA.STAGE3.NUM_CHANNELS', [4, 8, 16],
    'MODEL.EXTRA.STAGE3.NUM_BLOCKS', [1, 1, 1],
    'MODEL.EXTRA.STAGE4.NUM_MODULES', 1,
    'MODEL.EXTRA.STAGE4.NUM_CHANNELS', [4, 8, 16, 32],
    'MODEL.EXTRA.STAGE4.NUM_BLOCKS', [1, 1, 1, 1],
    'MODEL.EXTRA.DECONV.NUM_CHANNELS', [4],
    'MODEL.EXTRA.DECONV.NUM_BASIC_BLOCKS', 2,
]
IMAGE = '000000196141.jpg'
SIZE = 256


def build_original(orig_root: str):
    """The original model (random weights) built from the W32 yaml with the
    tiny options."""
    sys.path.insert(0, osp.join(orig_root, 'lib'))
    # the model file imports IPython.embed (debugging only)
    sys.modules.setdefault('IPython', types.SimpleNamespace(embed=None))
    import models  # noqa: E402,F401
    from config import cfg  # noqa: E402
    from models.pose_higher_hrnet import get_pose_net  # noqa: E402

    cfg.defrost()
    cfg.merge_from_file(
        osp.join(orig_root,
                 'experiments/coco/higher_hrnet/w32_512_adam_lr1e-3.yaml'))
    cfg.merge_from_list(TINY_OPTS)
    cfg.freeze()
    return get_pose_net(cfg, is_train=False), cfg


def randomise(model, seed: int = 0) -> None:
    """Weights and BN statistics of a trained-looking scale, so that a
    wrongly mapped tensor changes the outputs."""
    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith('running_var'):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith('running_mean') or name.endswith('bias'):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.ndim == 1:  # BN weight
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)
            else:
                fan_in = t[0].numel() if t.ndim > 1 else 1
                t.copy_(torch.randn(t.shape, generator=g) / fan_in**0.5)


def load_image(root: str) -> np.ndarray:
    """The fixture's input: a coco_tiny image resized to SIZE x SIZE, RGB."""
    import cv2
    img = cv2.imread(osp.join(root, 'data', 'coco_tiny', IMAGE))
    img = cv2.resize(img, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(img[:, :, ::-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--orig', default='/tmp/orig/swahr')
    parser.add_argument('--out', default='tests/data/swahr')
    args = parser.parse_args()
    import torch

    root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    model, cfg = build_original(args.orig)
    randomise(model)
    model.eval()
    os.makedirs(args.out, exist_ok=True)
    state = model.state_dict()
    torch.save(state, osp.join(args.out, 'model_tiny_swahr.pth'))

    img = load_image(root)
    # the original's test transform: ToTensor + ImageNet Normalize (RGB)
    x = torch.from_numpy(img.astype(np.float32) / 255.).permute(2, 0, 1)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)
    x = ((x - mean) / std)[None]
    with torch.no_grad():
        outs = model(x)
    arrays = dict(image=img)
    for i, o in enumerate(outs):
        o = o[0].double()
        arrays[f'output_{i}'] = o.numpy().astype(np.float16)
        arrays[f'output_{i}_sum'] = o.sum(dim=(1, 2)).numpy()
        arrays[f'output_{i}_abssum'] = o.abs().sum(dim=(1, 2)).numpy()
    np.savez_compressed(
        osp.join(args.out, 'model_tiny_swahr_outputs.npz'), **arrays)
    print('saved', len(state), 'tensors;',
          [tuple(o.shape) for o in outs])


if __name__ == '__main__':
    main()
