# HigherHRNet-W48 + SWAHR on CrowdPose (14 keypoints), 640x640, as the
# authors' experiments/crowd_pose/higher_hrnet/w48_640_adam_lr1e-3.yaml:
# the COCO W48 + SWAHR config with the dataset, K and the metric changed
# (SWAHR's README: 71.6 AP on CrowdPose test, single scale). The released
# CrowdPose checkpoint converts with tools/model_converters/swahr2mmpose.py
# --config <this file>. Data: mmpose's CrowdPose layout,
#   data/crowdpose/annotations/mmpose_crowdpose_{trainval,test}.json
#   data/crowdpose/images/*.jpg
# Flip indices come from the CrowdPose metainfo; the grouping order is the
# original's (its COCO order cut to 14 keypoints, which is a permutation).
_base_ = ['./ae_higherhrnet-w48_swahr-8xb24-300e_coco-640x640.py']

num_keypoints = 14
data_root = 'data/crowdpose/'
model = dict(
    head=dict(
        num_keypoints=num_keypoints,
        parser=dict(joint_order=[0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10,
                                 13])))
train_dataloader = dict(
    dataset=dict(
        type='CrowdPoseDataset',
        data_root=data_root,
        ann_file='annotations/mmpose_crowdpose_trainval.json',
        data_prefix=dict(img='images/')))
val_dataloader = dict(
    dataset=dict(
        type='CrowdPoseDataset',
        data_root=data_root,
        ann_file='annotations/mmpose_crowdpose_test.json',
        data_prefix=dict(img='images/')))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/mmpose_crowdpose_test.json',
    use_area=False,
    iou_type='keypoints_crowd',
    prefix='crowdpose',
    score_mode='bbox',
    nms_mode='none')
test_evaluator = val_evaluator
