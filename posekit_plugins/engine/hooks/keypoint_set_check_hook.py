"""Stop a run whose model predicts another number of keypoints than its
data defines, before the first iteration."""
from typing import Optional

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmpose.registry import HOOKS


def head_num_keypoints(model) -> Optional[int]:
    """The number of keypoints K a pose model's head predicts, or None for a
    head that does not say (then nothing is checked).

    Heads that name it ``num_keypoints`` (AE, YOLOX-Pose and this package's
    one-stage heads) or ``num_joints`` (regression) are read first; heatmap
    and SimCC heads have one output channel per keypoint (``out_channels``).
    """
    if is_model_wrapper(model):
        model = model.module
    head = getattr(model, 'head', None)
    if head is None:
        return None
    for attr in ('num_keypoints', 'num_joints'):
        k = getattr(head, attr, None)
        if isinstance(k, int):
            return k
    from mmpose.models.heads import HeatmapHead, RTMCCHead, SimCCHead
    if isinstance(head, (HeatmapHead, SimCCHead, RTMCCHead)):
        return int(head.out_channels)
    return None


@HOOKS.register_module()
class KeypointSetCheckHook(Hook):
    """Compare the model head's K with the K of the dataset metainfo of each
    split when that split starts (train, val, test).

    The model is built from the config before any dataset, and K lives in
    two places (the head, the dataset's metainfo file): a mismatch would
    otherwise surface mid-run as a shape error in a loss or codec, or not at
    all (evaluation silently scoring the wrong keypoints). A hook sees both
    built objects, so it checks every head and dataset type alike; it is a
    default hook of ``configs/_base_/default_runtime.py``.
    """

    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._checked = set()

    def before_train(self, runner) -> None:
        self._check(runner, 'train', lambda: runner.train_dataloader)

    def before_val(self, runner) -> None:
        self._check(runner, 'val', lambda: runner.val_dataloader)

    def before_test(self, runner) -> None:
        self._check(runner, 'test', lambda: runner.test_dataloader)

    def _check(self, runner, split: str, get_loader) -> None:
        if split in self._checked:
            return
        self._checked.add(split)
        k_model = head_num_keypoints(runner.model)
        dataset = getattr(get_loader(), 'dataset', None)
        meta = getattr(dataset, 'metainfo', None) or {}
        k_data = meta.get('num_keypoints')
        if k_model is None or k_data is None or k_model == k_data:
            return
        head = runner.model.module if is_model_wrapper(
            runner.model) else runner.model
        cfg_file = getattr(runner.cfg, 'filename', None)
        source = getattr(dataset, 'metainfo_file', None) or \
            f'metainfo "{meta.get("dataset_name")}" of {type(dataset).__name__}'
        raise ValueError(
            f'{split} data and model disagree on the keypoints: the '
            f'{split} dataset ({getattr(dataset, "ann_file", "")}, keypoint '
            f'set from {source}) has K={k_data}, the model head '
            f'{type(head.head).__name__} (config {cfg_file}) '
            f'predicts K={k_model}. Fix: take the head\'s K from the dataset '
            "base file (`num_keypoints=_base_.num_keypoints`) instead of a "
            'number, see docs/custom_dataset.md.')
