# KAPAO-S at 1280 on CrowdPose, as the KAPAO repository trained it
# (README "CrowdPose Experiments": train.py --img 1280 --batch 128 --epochs
# 300 --data data/crowdpose.yaml --hyp data/hyps/hyp.kp-p6.yaml --weights
# yolov5s6.pt --noval, 4 GPUs; 63.8 AP on CrowdPose test with its
# multi-scale/flip TTA, released as kapao_s_crowdpose.pt): the COCO 1280
# config's text (kapao_s6_4xb32-500e_coco-1280.py) on the CrowdPose chain
# (kapao_s6_4xb16-300e_crowdpose-640.py, whose only change is the dataset
# base _base_/datasets/crowdpose_bottomup.py), with the original's 300
# epochs instead of 500. K = 14: 1 + 14 object classes (crowdpose.yaml's nc:
# 15), keypoint objects of side kp_bbox = 0.05 of the longest image side and
# flip pairs from mmpose's CrowdPose metainfo (crowdpose.yaml's kp_flip).
# Data: mmpose's CrowdPose layout,
#   data/crowdpose/annotations/mmpose_crowdpose_{trainval,test}.json
#   data/crowdpose/images/*.jpg
_base_ = ['./kapao_s6_4xb16-300e_crowdpose-640.py']

# the original's CrowdPose run: 300 epochs of YOLOv5's schedule (hyp.kp-p6;
# the one-cycle cosine to 0.2 x lr spans max_epochs) on trainval with no
# validation during training (--noval), the last checkpoint tested
max_epochs = 300
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
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
