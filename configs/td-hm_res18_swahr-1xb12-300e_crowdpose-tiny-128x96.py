# SWAHR head and loss on the tiny ResNet-18 model, on the CrowdPose-format fixture data/crowdpose_tiny (14 keypoints, head top
# and neck derived; see its README):
# twin of td-hm_res18_swahr-1xb12-300e_coco-tiny-128x96.py, the same text but
# for the `_base_` line (its parent's CrowdPose twin).
_base_ = ['./td-hm_res18_1xb12-300e_crowdpose-tiny-128x96.py']

model = dict(
    head=dict(
        type='SWAHRHead',
        scale_kernel_size=9,
        loss=dict(
            type='SWAHRLoss',
            gamma=0.01,
            use_target_weight=True,
            loss_weight=1.0,
            scale_loss_weight=1.0,
            _delete_=True)))
