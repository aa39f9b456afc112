# KAPAO-M at 1280 (paper: 68.5 AP on COCO val2017, no TTA; released
# checkpoint kapao_m_coco.pt): the KAPAO-S 1280 config with YOLOv5m6's depth / width
# multiples (0.67 / 0.75); batch 4 x 18 = the paper's 72.
_base_ = ['./kapao_s6_4xb32-500e_coco-1280.py']

deepen_factor = 0.67
widen_factor = 0.75
channels = [int(c * widen_factor) for c in (256, 512, 768, 1024)]
model = dict(
    backbone=dict(deepen_factor=deepen_factor, widen_factor=widen_factor),
    neck=dict(in_channels=channels,
              num_csp_blocks=max(round(3 * deepen_factor), 1)),
    head=dict(in_channels=channels))
train_dataloader = dict(batch_size=18)
# 4 x 18 = 72: weight decay 5e-4 x 72 / 64, accumulate 1
optim_wrapper = dict(paramwise_cfg=dict(batch_size_per_gpu=18))
