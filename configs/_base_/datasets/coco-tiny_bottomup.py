# The 4 COCO val2017 images shipped in data/coco_tiny (12 persons with
# keypoints), bottom-up (one sample per image). Training and evaluating on the
# same images measures fitting, not generalisation. The path is relative to
# this file, so the config works from any directory (and from the copy that
# `mim` installs inside the package).
dataset_type = 'ValidatedCocoDataset'
data_mode = 'bottomup'
data_root = '{{fileDirname}}/../../../data/coco_tiny/'

train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='test_coco.json',
        data_prefix=dict(img=''),
    ))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='test_coco.json',
        data_prefix=dict(img=''),
        test_mode=True,
    ))
test_dataloader = val_dataloader

val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'test_coco.json',
    score_mode='bbox',
    nms_mode='none')
test_evaluator = val_evaluator
