"""Export a pose model (config + checkpoint) to one ONNX file.

One-stage models (YOLO-Pose, KAPAO) export end to end: network, decoding,
score filter, NMS (ONNX ``NonMaxSuppression``), top-k and fixed-size outputs
(``boxes``, ``scores``, ``keypoints``, ``keypoint_scores``, ``num_dets``);
top-down heatmap models export with their decoding in the graph. The file
also holds the metadata the runner needs (``docs/deployment.md``)::

    python tools/deployment/pytorch2onnx.py CONFIG CHECKPOINT --out model.onnx \\
        [--input-size W H] [--opset N] [--dynamic-batch]

The export is checked (``onnx.checker``, every output depends on the input,
onnxruntime agrees with PyTorch on two inputs); a failed check exits 1 and
leaves no file.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
import _checkout  # noqa: F401,E402  (this checkout's package first)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--input-size', type=int, nargs=2, metavar=('W', 'H'),
                        help="graph input size (default: the config's)")
    parser.add_argument('--opset', type=int, default=17,
                        help='ONNX opset (default 17; one-stage needs >= 11)')
    parser.add_argument('--dynamic-batch', action='store_true',
                        help='a dynamic batch dimension (default: batch 1)')
    parser.add_argument('--device', default='cpu',
                        help='device the model runs on during the export')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from posekit_plugins.deployment.export import export_onnx
    try:
        out = export_onnx(args.config, args.checkpoint, args.out,
                          input_size=args.input_size, opset=args.opset,
                          dynamic_batch=args.dynamic_batch,
                          device=args.device)
    except (FileNotFoundError, ValueError, RuntimeError, TypeError) as e:
        print(f'pytorch2onnx: error: {e}', file=sys.stderr)
        return 1
    print(f'wrote {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
