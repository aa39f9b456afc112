# The 4 COCO val2017 images shipped in data/coco_tiny (12 persons). Training
# and evaluating on the same images measures fitting, not generalisation.
# The path is relative to this file, so the config works from any directory
# (and from the copy that `mim` installs inside the package).

# The keypoint set, read by the model configs (configs/README.md, "Any
# keypoint set"): mmpose's metainfo file (names, flip pairs, sigmas) and K.
dataset_metainfo_file = 'configs/_base_/datasets/coco.py'
num_keypoints = 17
dataset_type = 'ValidatedCocoDataset'
data_mode = 'topdown'
data_root = '{{fileDirname}}/../../../data/coco_tiny/'

train_dataloader = dict(
    batch_size=12,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        ann_file='test_coco.json',
        data_prefix=dict(img=''),
    ))
val_dataloader = dict(
    batch_size=12,
    num_workers=0,
    persistent_workers=False,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        metainfo=dict(from_file=dataset_metainfo_file),
        ann_file='test_coco.json',
        data_prefix=dict(img=''),
        test_mode=True,
    ))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'test_coco.json')
test_evaluator = val_evaluator
