"""``export_onnx``: one entry point for every exportable model family, and
the checks that refuse a graph with the traced image baked in."""
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn


def model_family(cfg) -> str:
    """``'onestage'`` (a bottom-up model with a YOLOv5 anchor head) or
    ``'topdown'`` (a top-down heatmap model); anything else raises a
    ``ValueError`` naming the model and head types."""
    from mmpose.registry import MODELS

    from ..models.heads import YOLOAnchorHead
    model_type = str(cfg.model.get('type', ''))
    head_type = str((cfg.model.get('head') or {}).get('type', ''))
    head_cls = MODELS.get(head_type) if head_type else None
    if model_type.endswith('BottomupPoseEstimator') and isinstance(
            head_cls, type) and issubclass(head_cls, YOLOAnchorHead):
        return 'onestage'
    if model_type.endswith('TopdownPoseEstimator') and (
            'Heatmap' in head_type or head_type == 'SWAHRHead'):
        return 'topdown'
    raise ValueError(
        f'unsupported model family for ONNX export: model {model_type!r} '
        f'with head {head_type!r}. Supported: one-stage BottomupPoseEstimator '
        'with YOLOPoseHead / KAPAOHead, top-down TopdownPoseEstimator with a '
        'heatmap head.')


def export_onnx(config, checkpoint: Optional[str], out: str,
                input_size: Optional[Sequence[int]] = None, opset: int = 17,
                dynamic_batch: bool = False, device: str = 'cpu') -> str:
    """Export a config + checkpoint to an ONNX file with its metadata.

    Dispatches by model family: one-stage anchor models to
    :func:`posekit_plugins.deployment.onestage.export_onestage`, top-down
    heatmap models to ``posekit_plugins.deployment.topdown.export_topdown``.

    Args:
        config (str | Config): The model config.
        checkpoint (str, optional): Its weights; None keeps the config's
            initialisation (for tests).
        out (str): The ``.onnx`` file to write.
        input_size (Sequence[int], optional): (W, H); the config's when None.
        opset (int): ONNX opset (default 17).
        dynamic_batch (bool): A dynamic batch dimension.
        device (str): Where the model runs during the export.

    Returns:
        str: ``out``.
    """
    from mmengine.config import Config
    from mmpose.apis import init_model

    import posekit_plugins  # noqa: F401  (registers the modules)
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    if isinstance(config, (str, Path)):
        if not Path(config).is_file():
            raise FileNotFoundError(f'config not found: {config}')
        config = Config.fromfile(str(config))
    family = model_family(config)
    model = init_model(config, checkpoint, device=device).eval()
    if family == 'onestage':
        from .onestage import export_onestage
        return export_onestage(model, config, out, input_size, opset,
                               dynamic_batch)
    from .topdown import export_topdown
    return export_topdown(model, config, out, input_size, opset,
                          dynamic_batch)


# ------------------------------------------------------------------ checks
def outputs_without_input(model, input_name: str = 'input') -> List[str]:
    """Names of the graph outputs that do not depend on ``input_name``
    (walking the ONNX graph, subgraphs' outer references included)."""
    graph = model.graph
    depends = {input_name}
    changed = True
    while changed:  # nodes are topologically sorted; loop for subgraphs
        changed = False
        for node in graph.node:
            ins = set(node.input)
            for attr in node.attribute:  # If / Loop bodies
                for sub in list(attr.g.node if attr.g else []) + [
                        n for g in attr.graphs for n in g.node]:
                    ins.update(sub.input)
            if ins & depends and not set(node.output) <= depends:
                depends.update(o for o in node.output if o)
                changed = True
    return [o.name for o in graph.output if o.name not in depends]


def _run_ort(sess, inputs: np.ndarray) -> Dict[str, np.ndarray]:
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, {'input': inputs})))


def check_exported_graph(out: Union[str, Path], export_model: nn.Module,
                         check_inputs: torch.Tensor) -> None:
    """Raise unless ``out`` is a valid graph computed from its input.

    1. ``onnx.checker.check_model``;
    2. every output depends on the input (graph walk);
    3. onnxruntime on each of the check images (batch 1) agrees with the
       PyTorch module on what NMS cannot reorder: the count (within 2 % +
       2, for IoUs rounded on either side of the threshold) and the best
       detection (score within 1e-3, and its box within 1 px unless
       another score ties it: a sanity check that the graph computes the
       model, loose enough for float32 rounding amplified by large anchors;
       the parity tests hold the tight tolerances);
    4. two different check images do not give identical non-empty outputs.
    """
    import onnx
    onnx.checker.check_model(str(out))
    graph = onnx.load(str(out))
    const = outputs_without_input(graph)
    if const:
        raise RuntimeError(
            f'{out}: outputs {const} do not depend on the graph input: the '
            'trace baked the example image in as constants.')
    import onnxruntime as ort
    sess = ort.InferenceSession(str(out), providers=['CPUExecutionProvider'])
    names = [o.name for o in graph.graph.output]
    ort_outs, torch_outs = [], []
    for i in range(len(check_inputs)):
        x = check_inputs[i:i + 1]
        with torch.no_grad():
            ref = dict(zip(names, (t.cpu().numpy() for t in export_model(x))))
        got = _run_ort(sess, x.cpu().numpy().astype(np.float32))
        torch_outs.append(ref)
        ort_outs.append(got)
        n_ref, n_got = int(ref['num_dets'][0]), int(got['num_dets'][0])
        if abs(n_ref - n_got) > 2 + 0.02 * n_ref:
            raise RuntimeError(
                f'{out}: onnxruntime keeps {n_got} detections on check image '
                f'{i}, PyTorch {n_ref}: the graph does not compute the model.')
        if min(n_ref, n_got) > 0:
            s_ref, s_got = ref['scores'][0], got['scores'][0]
            # the best score, and its box when no other detection ties it
            unique = n_ref < 2 or s_ref[0] - s_ref[1] > 1e-4
            if abs(float(s_ref[0] - s_got[0])) > 1e-3 or unique and np.abs(
                    ref['boxes'][0, 0] - got['boxes'][0, 0]).max() > 1.0:
                raise RuntimeError(
                    f'{out}: the best detection on check image {i} differs '
                    f'between onnxruntime (score {s_got[0]:.6f}, box '
                    f'{got["boxes"][0, 0]}) and PyTorch (score '
                    f'{s_ref[0]:.6f}, box {ref["boxes"][0, 0]}).')
    same_ort = all(np.array_equal(ort_outs[0][k], ort_outs[1][k]) for k in names)
    same_ref = all(
        np.array_equal(torch_outs[0][k], torch_outs[1][k]) for k in names)
    if same_ort and not same_ref:
        raise RuntimeError(
            f'{out}: two different images give identical onnxruntime outputs '
            '(PyTorch: different): the trace baked values in.')
