# DARK (arXiv 1910.06278) on the SimpleBaseline ResNet-50 at 128x96, where the
# paper reports its largest gain: the plain 128x96 config with only the codec
# swapped. sigma 1 -> modulation kernel 3, as in the paper's 128x96 setting.
_base_ = ['./td-hm_res50_8xb64-210e_coco-128x96.py']

codec = dict(_base_.codec, type='DARKHeatmap', blur_kernel_size=3)
model = dict(head=dict(decoder=codec))
train_dataloader = dict(dataset=dict(pipeline=[
    *_base_.train_aug,
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]))
