# DARK on the tiny demo model (ResNet-18, 128x96, the 4 shipped images): the
# plain tiny config with only the codec swapped for DARKHeatmap (sigma 1 ->
# modulation kernel 3), so the pair compares the codecs alone.
_base_ = ['./td-hm_res18_1xb12-300e_coco-tiny-128x96.py']

codec = dict(_base_.codec, type='DARKHeatmap', blur_kernel_size=3)
model = dict(head=dict(decoder=codec))
train_dataloader = dict(dataset=dict(pipeline=[
    *_base_.train_aug,
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]))
