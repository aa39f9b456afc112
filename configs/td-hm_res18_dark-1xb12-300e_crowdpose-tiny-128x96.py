# DARK codec on the tiny ResNet-18 model, on the CrowdPose-format fixture data/crowdpose_tiny (14 keypoints, head top
# and neck derived; see its README):
# twin of td-hm_res18_dark-1xb12-300e_coco-tiny-128x96.py, the same text but
# for the `_base_` line (its parent's CrowdPose twin).
_base_ = ['./td-hm_res18_1xb12-300e_crowdpose-tiny-128x96.py']

codec = dict(_base_.codec, type='DARKHeatmap', blur_kernel_size=3)
model = dict(head=dict(decoder=codec))
train_dataloader = dict(dataset=dict(pipeline=[
    *_base_.train_aug,
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]))
