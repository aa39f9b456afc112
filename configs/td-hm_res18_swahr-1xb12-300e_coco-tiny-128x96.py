# SWAHR on the tiny demo model (ResNet-18, 128x96, the 4 shipped images): the
# plain tiny config with only the head and the loss swapped.
_base_ = ['./td-hm_res18_1xb12-300e_coco-tiny-128x96.py']

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
