# mmpose's own runtime (hooks, visualizer, logger, env), plus this package.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['posekit_plugins'], allow_failed_imports=False)

default_hooks = dict(
    # 'auto': the metric's first key, i.e. its AP (coco/AP, crowdpose/AP,
    # ...), so the same config serves every dataset base
    checkpoint=dict(save_best='auto', rule='greater', max_keep_ckpts=3),
    # stop before the first iteration when the model head's K differs from
    # the K of the train/val/test dataset's metainfo (names both files)
    keypoint_set_check=dict(type='KeypointSetCheckHook'))
