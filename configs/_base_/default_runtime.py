# mmpose's own runtime (hooks, visualizer, logger, env), plus this package.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['posekit_plugins'], allow_failed_imports=False)

default_hooks = dict(
    checkpoint=dict(save_best='coco/AP', rule='greater', max_keep_ckpts=3))
