"""Traceable batch selection of dense-head candidates: score filter, ONNX
``NonMaxSuppression`` and a fixed-size top-k, for the ONNX export."""
from typing import Optional, Tuple

import torch
from torch import Tensor
from torchvision.ops import nms

#: first ONNX opset with every operator of :func:`batched_select_nms`
#: (NonMaxSuppression is opset 10, ScatterND and TopK's k input 10/11)
MIN_NMS_OPSET = 11


class MultiClassNMSOp(torch.autograd.Function):
    """ONNX ``NonMaxSuppression`` (per image and class) with an eager
    implementation that computes what onnxruntime computes.

    Eager: for each image ``b`` and class ``c``, the boxes whose score is
    above ``score_thr`` go through torchvision's ``nms`` (suppress IoU >
    ``iou_thr``, the ONNX rule), at most ``max_out`` kept. Exported, the
    whole batch is one ``NonMaxSuppression`` node.

    Note:
        - boxes (B, N, 4) xyxy; scores (B, C, N)
        - returns (S, 3) int64 rows (image, class, box), per image and class
          by decreasing score (the ONNX output)
    """

    @staticmethod
    def forward(ctx, boxes: Tensor, scores: Tensor, max_out: int,
                iou_thr: float, score_thr: float) -> Tensor:
        rows = []
        B, C, _ = scores.shape
        for b in range(B):
            for c in range(C):
                s = scores[b, c]
                cand = (s > score_thr).nonzero(as_tuple=True)[0]
                keep = cand[nms(boxes[b, cand], s[cand], iou_thr)[:max_out]]
                rows.append(
                    torch.stack([
                        torch.full_like(keep, b),
                        torch.full_like(keep, c), keep
                    ], -1))
        if not rows:
            return torch.zeros((0, 3), dtype=torch.long, device=boxes.device)
        return torch.cat(rows)

    @staticmethod
    def symbolic(g, boxes, scores, max_out: int, iou_thr: float,
                 score_thr: float):
        return g.op(
            'NonMaxSuppression', boxes, scores,
            g.op('Constant', value_t=torch.tensor([max_out],
                                                  dtype=torch.long)),
            g.op('Constant', value_t=torch.tensor([iou_thr],
                                                  dtype=torch.float)),
            g.op('Constant', value_t=torch.tensor([score_thr],
                                                  dtype=torch.float)))


def gather_rows(x: Tensor, idx: Tensor) -> Tensor:
    """``x[b, idx[b, m]]`` for x (B, N, ...) and idx (B, M): (B, M, ...)."""
    index = idx.reshape(*idx.shape, *([1] * (x.dim() - 2)))
    return x.gather(1, index.expand(-1, -1, *x.shape[2:]))


def batched_select_nms(bboxes: Tensor, scores: Tensor, labels: Tensor,
                       num_classes: int, score_thr: float, nms_thr: float,
                       nms_pre: int, max_per_img: int,
                       num_candidates: Optional[int] = None
                       ) -> Tuple[Tensor, Tensor, Tensor]:
    """:func:`select_and_nms` for a batch, as fixed-size traceable tensors.

    Per image: candidates with score > ``score_thr`` (at most the ``nms_pre``
    best), finite boxes and scores, class-aware NMS (none when ``nms_thr >=
    1``), the ``max_per_img`` best by decreasing score. The same candidates
    as the per-image version (up to ties of scores and the floating-point
    rounding of the IoU), with no Python branch on data: the graph keeps a
    dynamic batch and the input's dependence.

    Note:
        - batch: B; candidates per image: N (static); M = max_per_img
        - bboxes (B, N, 4) xyxy; scores (B, N); labels (B, N) long

    Args:
        num_candidates (int, optional): N, given when tracing (reading it
            from the shape there would warn that it becomes a constant; it
            is one: the input size is fixed).

    Returns:
        tuple: ``idx`` (B, M) long indices into the N candidates (0 in the
        padding), ``valid`` (B, M) bool (True for the first ``num`` of each
        row) and ``num`` (B,) long, the kept count.
    """
    N = int(scores.shape[1]) if num_candidates is None else num_candidates
    cand = scores > score_thr
    top = None
    if nms_pre < N:
        # the nms_pre best candidates (a static k: the graph stays fixed)
        _, top = torch.where(cand, scores, torch.full_like(scores, -1.0)).topk(
            nms_pre, dim=1)
        bboxes, scores = gather_rows(bboxes, top), gather_rows(scores, top)
        labels, cand = gather_rows(labels, top), gather_rows(cand, top)
    cand = cand & torch.isfinite(bboxes).all(-1) & torch.isfinite(scores)
    if nms_thr < 1.0:
        classes = torch.arange(num_classes, device=labels.device)
        # (B, C, N): a box scores in its own class only; -1 is below any
        # threshold, so non-candidates never enter the NMS
        per_class = torch.where(
            cand[:, None] & (labels[:, None] == classes[None, :, None]),
            scores[:, None].float(), torch.full_like(scores[:, None], -1.0).float())
        sel = MultiClassNMSOp.apply(bboxes.float(), per_class, max_per_img,
                                    float(nms_thr), float(score_thr))
        kept = torch.zeros_like(scores, dtype=torch.bool).index_put(
            (sel[:, 0], sel[:, 2]), torch.ones_like(sel[:, 0],
                                                    dtype=torch.bool))
    else:
        kept = cand
    k = min(max_per_img, N if top is None else nms_pre)
    ranked = torch.where(kept, scores, torch.full_like(scores, float('-inf')))
    order = ranked.topk(k, dim=1).indices
    valid = kept.gather(1, order)
    idx = order if top is None else top.gather(1, order)
    if k < max_per_img:
        # fewer candidates than outputs: pad (a static size)
        pad = torch.zeros_like(idx[:, :1]).expand(-1, max_per_img - k)
        idx = torch.cat([idx, pad], 1)
        valid = torch.cat([valid, pad.bool()], 1)
    idx = torch.where(valid, idx, torch.zeros_like(idx))
    return idx, valid, valid.sum(1)
