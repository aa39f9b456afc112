"""Argument checks shared by the keypoint-coordinate losses."""
from typing import Optional

from torch import Tensor

REDUCTIONS = ('none', 'mean', 'sum')


def check_reduction(name: str, reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ValueError(f"{name}: reduction must be 'none', 'mean' or "
                         f"'sum', got {reduction!r}")


def keypoint_weights(name: str, output: Tensor, target: Tensor,
                     target_weight: Optional[Tensor]) -> Tensor:
    """Non-negative (N, K) keypoint weights in ``output``'s dtype (all ones
    when ``target_weight`` is None), after checking that ``output`` and
    ``target`` are both (N, K, D) and ``target_weight`` is (N, K)."""
    if output.ndim != 3 or target.shape != output.shape:
        raise ValueError(f'{name}: output and target must both be (N, K, D), '
                         f'got {tuple(output.shape)} and '
                         f'{tuple(target.shape)}')
    if target_weight is None:
        return output.new_ones(output.shape[:2])
    if target_weight.shape != output.shape[:2]:
        raise ValueError(f'{name}: target_weight must be (N, K) = '
                         f'{tuple(output.shape[:2])}, got '
                         f'{tuple(target_weight.shape)}')
    return target_weight.to(output.dtype).clamp(min=0)
