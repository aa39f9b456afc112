# YOLO-Pose s6 at 960 (paper: 63.7 AP on COCO val2017, no TTA; released
# checkpoint Yolov5s6_pose_960): the 640
# config with the input size changed.
_base_ = ['./yolopose_s6_4xb16-300e_coco-640.py']

input_size = (960, 960)
codec = dict(_base_.codec, input_size=input_size)

# the 640 pipelines with only the size changed (lists do not merge)
resized = dict(img_scale=input_size, input_size=input_size, encoder=codec)
train_pipeline = [dict(t, **{k: v for k, v in resized.items() if k in t})
                  for t in _base_.train_pipeline]
val_pipeline = [dict(t, **{k: v for k, v in resized.items() if k in t})
                for t in _base_.val_pipeline]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
