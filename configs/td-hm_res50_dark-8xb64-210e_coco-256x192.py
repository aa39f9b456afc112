# DARK (arXiv 1910.06278) on the SimpleBaseline ResNet-50 256x192 model: the
# plain config with only the codec swapped for DARKHeatmap (unbiased float-
# centred targets + distribution-aware decoding). sigma 2 -> modulation
# kernel 11, as in the paper's 256x192 setting.
_base_ = ['./td-hm_res50_8xb64-210e_coco-256x192.py']

codec = dict(_base_.codec, type='DARKHeatmap', blur_kernel_size=11)
model = dict(head=dict(decoder=codec))
train_dataloader = dict(dataset=dict(pipeline=[
    *_base_.train_aug,
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]))
