# The narrowed HigherHRNet-W32 + SWAHR of tests/data/swahr/orig_tiny.pth
# (tools/make_swahr_fixtures.py: stage channels / 8, one module in stages 3
# and 4, one block per branch; the stem, layer1 and the deconv's 4 basic
# blocks as in W32) on the real SWAHR W32 config, with the original's test
# path: resize as resize_align_multi_scale at 64 px short side, flip test,
# HigherHRNetParser with the original's TEST settings.
_base_ = ['../../../configs/ae_higherhrnet-w32_swahr-8xb24-300e_coco-512x512.py']

model = dict(
    backbone=dict(
        init_cfg=None,
        extra=dict(
            stage2=dict(num_blocks=(1, 1), num_channels=(4, 8)),
            stage3=dict(num_modules=1, num_blocks=(1, 1, 1),
                        num_channels=(4, 8, 16)),
            stage4=dict(num_modules=1, num_blocks=(1, 1, 1, 1),
                        num_channels=(4, 8, 16, 32)))),
    head=dict(
        in_channels=4,
        deconv_out_channels=(4, ),
        parser=dict(
            _delete_=True,
            type='HigherHRNetParser',
            max_num_people=30,
            detection_threshold=0.12,
            tag_threshold=1.0,
            adjust=True,
            refine=True,
            project2image=True)),
    test_cfg=dict(flip_test=True))

test_pipeline = [
    dict(type='LoadImage'),
    dict(type='HigherHRNetResizeAlign', input_size=64, size_divisor=64),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'ori_shape', 'img_shape',
                   'input_size', 'input_center', 'input_scale', 'flip',
                   'flip_direction', 'flip_indices'))
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
