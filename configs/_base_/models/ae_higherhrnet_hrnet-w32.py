# HigherHRNet (arXiv 1908.10357) on mmpose's HRNet-W32, 512x512 input:
# heatmaps + per-keypoint tags at 1/4 (128x128), heatmaps at 1/2 (256x256)
# after a deconv stage (4x4 ConvTranspose, BN, ReLU, 4 BasicBlocks) on the
# 1/4 features concatenated with the 1/4 outputs, as the authors'
# PoseHigherResolutionNet (module names kept, so their checkpoints convert
# with tools/model_converters/swahr2mmpose.py). This base is the plain
# HigherHRNet; the SWAHR configs (arXiv 2012.15175) switch on
# `model.head.with_swahr` and the SWAHR loss, nothing else.
#
# Targets: HigherHRNetAssociativeEmbedding draws sigma-2 Gaussians at both
# resolutions (integer centres, 3 sigma + 1 support, as the authors'
# generators) and tag indices at 1/4. Losses (the authors' LOSS settings):
# heatmaps at both resolutions with the ignore mask, factors 1.0 / 1.0; AE
# tag loss ('exp') at 1/4 only, push and pull factors 0.001, averaged over
# the images of the batch (HigherHRNetAELoss).
#
# Test: `parser` is the original's test path (HigherHRNetParser: flip,
# both resolutions aggregated and projected to the input size, grouping
# with adjust/refine; DETECTION_THRESHOLD 0.12 of the W32 yaml); the head
# fills in its output layout (scale channels, tags). With parser=None (or
# if that type is not registered) the head decodes the flip-averaged 1/4
# outputs with the codec (AssociativeEmbeddingDARK's grouping and DARK
# refinement).
codec = dict(
    type='HigherHRNetAssociativeEmbedding',
    input_size=(512, 512),
    heatmap_size=(128, 128),
    sigma=2,
    num_resolutions=2,
    center_mode='trunc',
    decode_blur_kernel_size=11,
    decode_topk=30,
    decode_center_shift=0.0,
    decode_keypoint_order=[
        0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16
    ],
    decode_max_instances=30)

model = dict(
    type='BottomupPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(4, ),
                num_channels=(64, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(4, 4),
                num_channels=(32, 64)),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(32, 64, 128)),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(32, 64, 128, 256))),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w32-36af842e.pth'),
    ),
    head=dict(
        type='AEHigherHRNetHead',
        in_channels=32,
        num_keypoints=17,  # COCO's; top configs set the dataset base's K
        tag_per_keypoint=True,
        deconv_out_channels=(32, ),
        deconv_kernel_sizes=(4, ),
        num_basic_blocks=4,
        cat_output=(True, ),
        with_ae_loss=(True, False),
        final_kernel_size=1,
        with_swahr=False,
        keypoint_loss=dict(type='KeypointMSELoss', use_target_weight=False),
        heatmap_loss_weights=(1.0, 1.0),
        tag_loss=dict(
            type='HigherHRNetAELoss',
            loss_type='exp',
            pull_loss_factor=0.001,
            push_loss_factor=0.001),
        decoder=codec,
        # flip_shift: models trained here flip labels in input pixels, so
        # their flipped-back maps are moved 1 - 1/stride px right; for the
        # released (original-trained) checkpoints set flip_shift=None
        parser=dict(
            type='HigherHRNetParser',
            detection_threshold=0.12,
            flip_shift=(0.75, 0.5))),
    test_cfg=dict(
        multiscale_test=False,
        flip_test=True,
        shift_heatmap=False,
        restore_heatmap_size=False,
        align_corners=False))
