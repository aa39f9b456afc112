# The plain bottom-up AE HRNet-W32 baseline (SWAHR's README: "Bottom-up
# HRNet", 64.1 AP on test-dev): plain HigherHRNet-W32 without its deconv
# branch, i.e. heatmaps and tags at 1/4 only, masked MSE heatmap loss, the
# batch-averaged tag loss, the original's test path at one resolution.
# mmpose's own AssociativeEmbeddingHead cannot train (its loss multiplies
# per-instance keypoint weights into per-image heatmaps), hence
# AEHigherHRNetHead with no deconv. Differs from
# ae_higherhrnet-w32_8xb24-300e_coco-512x512.py only in the 1/2 branch.
_base_ = ['./ae_higherhrnet-w32_8xb24-300e_coco-512x512.py']

codec = dict(_base_.codec, num_resolutions=1)
model = dict(
    head=dict(
        deconv_out_channels=(),
        deconv_kernel_sizes=(),
        cat_output=(),
        with_ae_loss=(True, ),
        heatmap_loss_weights=(1.0, ),
        decoder=codec,
        # one resolution: the 1/4 flip shift only
        parser=dict(flip_shift=(0.75, ))))
train_pipeline = [
    dict(t, encoder=codec) if t['type'] == 'GenerateTarget' else t
    for t in _base_.train_pipeline
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
