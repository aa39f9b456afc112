# SWAHR + DARK on the tiny demo model: the tiny DARK config with only the
# head and the loss swapped (see td-hm_res50_swahr-dark-... for fg_threshold).
_base_ = ['./td-hm_res18_dark-1xb12-300e_coco-tiny-128x96.py']

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
            fg_threshold=0.011109,  # exp(-4.5)
            _delete_=True)))
