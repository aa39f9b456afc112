# KAPAO-S at 1280 (paper: 63.0 AP on COCO val2017, no TTA; released
# checkpoint kapao_s_coco.pt, convert it with
# tools/model_converters/kapao2mmpose.py): the 640 config
# with the input size, the batch (4 GPUs x 32 = the paper's 128) and the
# paper's 500 epochs changed (augmentation and data: KAPAO's, from the 640
# config). Fusion tolerance: the paper's code used
# 50 px of the original image; here 'original' mode reproduces it.
_base_ = ['./kapao_s6_4xb16-300e_coco-640.py']

# the paper's schedule: 500 epochs of YOLOv5's (hyp.kp-p6 = hyp.scratch's
# optimiser values; the one-cycle cosine to 0.2 x lr spans max_epochs)
max_epochs = 500
train_cfg = dict(max_epochs=max_epochs)
# 4 GPUs x 32 = the paper's 128: weight decay 5e-4 x 128 / 64, accumulate 1
optim_wrapper = dict(paramwise_cfg=dict(batch_size_per_gpu=32))

model = dict(test_cfg=dict(fusion_tol=50.0, fusion_tol_mode='original'))
input_size = (1280, 1280)
codec = dict(_base_.codec, input_size=input_size)

# the 640 pipelines with only the size changed (lists do not merge)
resized = dict(img_scale=input_size, input_size=input_size, encoder=codec)
train_pipeline = [dict(t, **{k: v for k, v in resized.items() if k in t})
                  for t in _base_.train_pipeline]
val_pipeline = [dict(t, **{k: v for k, v in resized.items() if k in t})
                for t in _base_.val_pipeline]
train_dataloader = dict(batch_size=32, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
