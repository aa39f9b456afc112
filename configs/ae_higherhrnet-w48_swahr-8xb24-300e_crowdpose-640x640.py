# HigherHRNet-W48 + SWAHR on CrowdPose (14 keypoints), 640x640, as the
# authors' experiments/crowd_pose/higher_hrnet/w48_640_adam_lr1e-3.yaml
# (SWAHR's README: 71.6 AP on CrowdPose test, single scale). Twin of
# ae_higherhrnet-w48_swahr-8xb24-300e_coco-640x640.py, the same text but for
# the `_base_` line (its parent's CrowdPose twin): the dataset, K, the
# grouping order (the original's COCO order cut to 14 keypoints, a
# permutation), the flip indices (CrowdPose metainfo) and the metric come
# from _base_/datasets/crowdpose_bottomup.py. The released CrowdPose
# checkpoint converts with tools/model_converters/swahr2mmpose.py --config
# <this file>. Data: mmpose's CrowdPose layout,
#   data/crowdpose/annotations/mmpose_crowdpose_{trainval,test}.json
#   data/crowdpose/images/*.jpg
_base_ = ['./ae_higherhrnet-w48_8xb24-300e_crowdpose-640x640.py']

optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, end_factor=1.0, begin=0, end=3,
         by_epoch=True, convert_to_iter_based=True),
    dict(type='PolyLR', eta_min=0.0, power=1.0, begin=3, end=300,
         by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=80)

model = dict(
    head=dict(
        with_swahr=True,
        scale_kernel_size=9,
        keypoint_loss=dict(
            type='SWAHRLoss',
            _delete_=True,
            gamma=0.01,
            loss_weight=1.0,
            scale_loss_weight=1.0)))
