# SWAHR (arXiv 2012.15175) + DARK (arXiv 1910.06278) on the SimpleBaseline
# ResNet-50 256x192 model: the DARK config (DARKHeatmap codec) with only the
# head (SWAHRHead) and the loss (SWAHRLoss) swapped, as in the plain SWAHR
# config. DARKHeatmap draws its Gaussians over the whole heatmap, so the loss
# takes G <= exp(-4.5) (beyond 3 sigma, where the code's truncated targets
# end) as background: otherwise G^0.01 stays near 0.5 far from every
# keypoint and the weighting no longer tells foreground from background.
_base_ = ['./td-hm_res50_dark-8xb64-210e_coco-256x192.py']

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
