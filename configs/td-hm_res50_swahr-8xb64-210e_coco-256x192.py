# SWAHR (arXiv 2012.15175) on the SimpleBaseline ResNet-50 256x192 model:
# the same model, codec, data and schedule as the plain heatmap config; only
# the head (SWAHRHead: + scale branch) and the loss (SWAHRLoss) change.
_base_ = ['./td-hm_res50_8xb64-210e_coco-256x192.py']

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
