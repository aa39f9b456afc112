# KAPAO-S at 1280 (paper: 63.0 AP on COCO val2017, no TTA; released
# checkpoint kapao_s_coco.pt, convert it with
# tools/model_converters/kapao2mmpose.py): the 640 config
# with the input size, the batch (4 GPUs x 32 = the paper's 128) and the
# paper's 500 epochs changed. Augmentation stays the YOLO-Pose one (the
# paper's code used scale +-0.9). Fusion tolerance: the paper's code used
# 50 px of the original image; here 'original' mode reproduces it.
_base_ = ['./kapao_s6_4xb16-300e_coco-640.py']

# the paper's schedule: 500 epochs (YOLOv5's linear decay to 0.2 x lr)
max_epochs = 500
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, begin=0, end=3,
         convert_to_iter_based=True),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.2, by_epoch=True,
         begin=3, end=max_epochs, convert_to_iter_based=True),
]

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
