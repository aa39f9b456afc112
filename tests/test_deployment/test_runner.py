"""ONNXPoseRunner and tools/deployment/onnx_inference.py against mmpose's
own inference (``inference_topdown`` / ``inference_bottomup``) on the shipped
images, with random models whose BN statistics come from those images."""
import importlib.util
import inspect
import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import COCO_TINY, REPO
from tests.test_deployment.test_topdown_export import (
    annotated_boxes,
    calibrate_bn,
    calibrated_dark_model,
    pipeline_crops,
)

ort = pytest.importorskip('onnxruntime')

YOLOPOSE_TINY_CFG = REPO / 'configs' / 'yolopose_tiny_1xb4-300e_coco-tiny-256.py'
IMAGES = sorted(str(p) for p in COCO_TINY.glob('*.jpg'))


def _save(model, path):
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=model.dataset_meta)), str(path))


@pytest.fixture(scope='module')
def topdown(tmp_path_factory):
    """The calibrated tiny DARK model exported through ``export_onnx``
    (dispatch to export_topdown; no flip test in the graph)."""
    from posekit_plugins.deployment import ONNXPoseRunner
    from posekit_plugins.deployment.export import export_onnx
    model, _, _ = calibrated_dark_model()
    tmp = tmp_path_factory.mktemp('runner_td')
    _save(model, tmp / 'dark.pth')
    # a fixed batch of 1 where torch has no dynamo exporter (< 2.5): the
    # runner then runs the crops one by one
    dynamic = 'dynamo' in inspect.signature(torch.onnx.export).parameters
    export_onnx(str(model.cfg.filename), str(tmp / 'dark.pth'),
                str(tmp / 'dark.onnx'), dynamic_batch=dynamic)
    model.test_cfg['flip_test'] = False  # as the graph
    return SimpleNamespace(model=model, path=tmp / 'dark.onnx',
                           runner=ONNXPoseRunner(tmp / 'dark.onnx'))


@pytest.fixture(scope='module')
def onestage(tmp_path_factory):
    """The tiny YOLO-Pose model (BN from the letterboxed images) exported
    with a dynamic batch, checked by the exporter on two real images (on
    random-noise check images this calibrated model saturates at score 1,
    where ties make the exporter's best-detection check arbitrary)."""
    from mmengine.dataset import Compose, pseudo_collate
    from mmpose.apis import init_model
    from mmpose.utils import register_all_modules

    from posekit_plugins.deployment import ONNXPoseRunner
    from posekit_plugins.deployment.onestage import export_onestage
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    model = init_model(str(YOLOPOSE_TINY_CFG), None, device='cpu')
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    batch = model.data_preprocessor(
        pseudo_collate([pipeline(dict(img_path=p)) for p in IMAGES]))
    calibrate_bn(model, model.extract_feat, batch['inputs'], affine_seed=0)
    tmp = tmp_path_factory.mktemp('runner_os')
    export_onestage(model, model.cfg, str(tmp / 'yolopose.onnx'),
                    dynamic_batch=True, check_inputs=batch['inputs'][:2])
    return SimpleNamespace(model=model, path=tmp / 'yolopose.onnx',
                           inputs=batch['inputs'],
                           runner=ONNXPoseRunner(tmp / 'yolopose.onnx'))


# ------------------------------------------------------------- top-down
def test_topdown_crops_equal_mmpose_pipeline(topdown):
    """crop_topdown + normalize_image = GetBBoxCenterScale + TopdownAffine
    + PoseDataPreprocessor, pixel for pixel."""
    from posekit_plugins.deployment import crop_topdown, normalize_image
    ref, samples = pipeline_crops(topdown.model)
    meta = topdown.runner.meta
    ours = []
    for path, boxes in annotated_boxes().items():
        crops, centers, scales = crop_topdown(cv2.imread(path), boxes,
                                              (96, 128), 1.25)
        ours += [normalize_image(c, meta['mean'], meta['std'], True)
                 for c in crops]
        for s, c, sc in zip(samples[len(ours) - len(crops):], centers,
                            scales):
            np.testing.assert_allclose(s.metainfo['input_center'], c)
            np.testing.assert_allclose(s.metainfo['input_scale'], sc)
    np.testing.assert_allclose(np.stack(ours), ref.numpy(), rtol=0,
                               atol=1e-6)


def test_topdown_runner_maps_back_like_mmpose(topdown):
    """The graph's crop keypoints mapped back by mmpose's own
    TopdownPoseEstimator.add_pred_to_datasample equal the runner's output
    (the mapping alone, no float noise of the network)."""
    from mmengine.structures import InstanceData
    crops, samples = pipeline_crops(topdown.model)
    kpts, scores = topdown.runner._run(crops.numpy())  # fixed batch: 1 by 1
    # (add_pred_to_datasample maps in place: give it copies)
    preds = [InstanceData(keypoints=k[None].copy(),
                          keypoint_scores=s[None].copy())
             for k, s in zip(kpts, scores)]
    mapped = topdown.model.add_pred_to_datasample(preds, None, samples)
    ref = np.concatenate([m.pred_instances.keypoints for m in mapped])
    ours = np.concatenate([
        topdown.runner(cv2.imread(p), b).pred_instances.keypoints
        for p, b in annotated_boxes().items()])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-3)
    # the mapping matters: crop and image coordinates are far apart
    assert np.abs(kpts - ref).max() > 50


def test_topdown_runner_equals_inference_topdown(topdown):
    """End to end against mmpose's inference_topdown (no flip test):
    same boxes and scores; keypoints to float32 noise of the two runtimes'
    convolutions, which DARK's Taylor step amplifies where the random
    model's log-heatmap is nearly flat (hence max 0.05 px, median 1e-3)."""
    from mmpose.apis import inference_topdown
    from mmpose.structures import merge_data_samples
    diffs = []
    for path, boxes in annotated_boxes().items():
        img = cv2.imread(path)
        ref = merge_data_samples(
            inference_topdown(topdown.model, img, boxes)).pred_instances
        out = topdown.runner(img, boxes).pred_instances
        assert out.keypoints.shape == ref.keypoints.shape
        np.testing.assert_allclose(out.bboxes, ref.bboxes, atol=1e-4)
        np.testing.assert_allclose(out.bbox_scores, ref.bbox_scores)
        np.testing.assert_allclose(out.keypoint_scores, ref.keypoint_scores,
                                   rtol=0, atol=1e-5)
        diffs.append(np.abs(out.keypoints - ref.keypoints).ravel())
    diffs = np.concatenate(diffs)
    assert diffs.max() < 0.05 and np.median(diffs) < 1e-3, (
        diffs.max(), np.median(diffs))


def test_topdown_runner_batches_and_errors(topdown):
    runner = topdown.runner
    items = list(annotated_boxes().items())
    imgs = [cv2.imread(p) for p, _ in items]
    boxes = [b for _, b in items]
    batch = runner.predict_batch(imgs, boxes)
    for img, b, res in zip(imgs, boxes, batch):
        single = runner(img, b).pred_instances
        np.testing.assert_allclose(res.pred_instances.keypoints,
                                   single.keypoints, atol=1e-4)
    # boxes with a score column; none at all
    scored = np.concatenate([boxes[0], np.full((len(boxes[0]), 1), 0.5)], 1)
    res = runner(imgs[0], scored).pred_instances
    np.testing.assert_allclose(res.bbox_scores, 0.5)
    assert len(runner(imgs[0], np.zeros((0, 4))).pred_instances) == 0
    with pytest.raises(ValueError, match='top-down model: it needs person'):
        runner(imgs[0])
    with pytest.raises(ValueError, match=r'\(N, 4\) xyxy'):
        runner(imgs[0], np.zeros((2, 3)))
    with pytest.raises(ValueError, match='empty'):
        runner(imgs[0], np.array([[10, 10, 5, 20]]))
    with pytest.raises(ValueError, match='not available'):
        type(runner)(topdown.path, providers=['NoSuchExecutionProvider'])


# ------------------------------------------------------------ one-stage
def _match(ref, out, top):
    """For the ``top`` best ref persons in order, the runner's unmatched
    person closest in box, keypoints and score (NMS may order near-equal
    scores differently; clipping may give several persons one box)."""
    def vec(p):
        return np.concatenate([p.bboxes, p.keypoints.reshape(len(p.bboxes), -1),
                               1e3 * p.bbox_scores[:, None]], 1)
    a, b = vec(ref), vec(out)
    free = np.ones(len(b), bool)
    pairs = []
    for i in np.argsort(-ref.bbox_scores, kind='stable')[:top]:
        d = np.where(free, np.abs(b - a[i]).max(1), np.inf)
        j = int(np.argmin(d))
        free[j] = False
        pairs.append((i, j))
    return pairs


def test_onestage_preprocessing_equals_mmpose(onestage):
    """Letterbox + normalisation + padding = the config's test pipeline and
    PoseDataPreprocessor, exactly; the metainfo too."""
    for k, path in enumerate(IMAGES):
        x, info = onestage.runner._preprocess_onestage(cv2.imread(path))
        np.testing.assert_array_equal(x, onestage.inputs[k].numpy())
        h, w = cv2.imread(path).shape[:2]
        assert info['ori_shape'] == (h, w)
        assert tuple(info['input_size']) == (256, 256)


def test_onestage_runner_equals_inference_bottomup(onestage):
    """Letterbox, normalisation, graph, clipping and the mapping to the
    image: the runner's persons are mmpose's (scores 1e-4, boxes and
    keypoints 0.01 px)."""
    from mmpose.apis import inference_bottomup
    for path in IMAGES:
        img = cv2.imread(path)
        ref = inference_bottomup(onestage.model, img)[0].pred_instances
        out = onestage.runner(img).pred_instances
        n_ref, n_out = len(ref.bbox_scores), len(out.bbox_scores)
        assert abs(n_ref - n_out) <= 2 + 0.02 * n_ref
        pairs = _match(ref, out, 30)
        for i, j in pairs:
            assert abs(ref.bbox_scores[i] - out.bbox_scores[j]) < 1e-4
            np.testing.assert_allclose(out.bboxes[j], ref.bboxes[i],
                                       rtol=0, atol=0.01)
            np.testing.assert_allclose(out.keypoints[j], ref.keypoints[i],
                                       rtol=0, atol=0.01)
            np.testing.assert_allclose(out.keypoint_scores[j],
                                       ref.keypoint_scores[i], rtol=0,
                                       atol=1e-4)
        # in the original image, not the 256x256 input
        h, w = img.shape[:2]
        assert out.bboxes[:, 2].max() > 256 or out.bboxes[:, 3].max() > 256
        assert (out.keypoints[..., 0] <= w).all() and \
            (out.keypoints[..., 1] <= h).all()


def test_onestage_batch_and_images_differ(onestage):
    runner = onestage.runner
    assert runner.dynamic_batch
    imgs = [cv2.imread(p) for p in IMAGES]
    batch = runner.predict_batch(imgs)
    for img, res in zip(imgs, batch):
        single = runner(img).pred_instances
        np.testing.assert_allclose(res.pred_instances.bbox_scores[:20],
                                   single.bbox_scores[:20], atol=1e-5)
        np.testing.assert_allclose(res.pred_instances.keypoints[:20],
                                   single.keypoints[:20], atol=1e-3)
    a, b = (r.pred_instances for r in batch[:2])
    assert not np.allclose(a.keypoints[:5], b.keypoints[:5])
    with pytest.raises(ValueError, match='one-stage model'):
        runner(imgs[0], np.array([[0, 0, 10, 10]]))
    runner_thr = type(runner)(onestage.path, score_thr=float(
        np.median(batch[0].pred_instances.bbox_scores)))
    kept = runner_thr(imgs[0]).pred_instances
    assert 0 < len(kept) < len(batch[0].pred_instances)


def test_letterbox_mapping_round_trip():
    """Points mapped into the input by the letterbox's own affine
    (warp_mat) come back where they were."""
    from posekit_plugins.datasets.transforms import YOLOv5Letterbox
    from posekit_plugins.deployment.runner import _input_to_image
    rng = np.random.default_rng(0)
    for ratio_pad in (None, 'letterbox'):
        for (h, w) in ((425, 640), (333, 500), (640, 201)):
            res = YOLOv5Letterbox((256, 256), ratio_pad=ratio_pad)(
                dict(img=np.zeros((h, w, 3), np.uint8)))
            pts = rng.uniform(0, [w, h], size=(50, 2))
            mat = res['warp_mat'].astype(np.float64)
            inp = pts @ mat[:, :2].T + mat[:, 2]
            np.testing.assert_allclose(_input_to_image(inp, res), pts,
                                       atol=1e-3)


# ----------------------------------------------------------------- tool
def _tool():
    spec = importlib.util.spec_from_file_location(
        'onnx_inference', REPO / 'tools' / 'deployment' / 'onnx_inference.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _make_video(path, n=6):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'MJPG'), 5,
                             (320, 240))
    for i in range(n):
        writer.write(cv2.resize(cv2.imread(IMAGES[i % len(IMAGES)]),
                                (320, 240)))
    writer.release()


def _count_frames(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n


def test_tool_video_round_trip(onestage, tmp_path):
    tool = _tool()
    video = tmp_path / 'clip.avi'
    _make_video(video, 6)
    assert _count_frames(video) == 6
    out = tmp_path / 'out' / 'pred.mp4'
    out.parent.mkdir()
    tool.main([str(onestage.path), str(video), '--out', str(out),
               '--score-thr', '0.0'])
    assert _count_frames(out) == 6
    cap = cv2.VideoCapture(str(out))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH),
            cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (320, 240)
    cap.release()
    preds = json.loads((tmp_path / 'out' / 'pred.json').read_text())
    assert [f['frame'] for f in preds['frames']] == list(range(6))
    # the runner's persons on frame 0 as decoded from the input video
    cap = cv2.VideoCapture(str(video))
    frame0 = cap.read()[1]
    cap.release()
    ref = onestage.runner(frame0)
    first = preds['frames'][0]['instances']
    assert len(first) == len(ref.pred_instances)
    np.testing.assert_allclose(first[0]['keypoints'],
                               ref.pred_instances.keypoints[0], atol=1e-3)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        'pred.json', 'pred.mp4']


def test_tool_unreadable_video_leaves_nothing(onestage, tmp_path, capsys):
    tool = _tool()
    bad = tmp_path / 'broken.mp4'
    bad.write_bytes(b'this is not a video' * 100)
    out_dir = tmp_path / 'out'
    out_dir.mkdir()
    with pytest.raises(SystemExit, match='cannot open the video'):
        tool.main([str(onestage.path), str(bad), '--out',
                   str(out_dir / 'pred.mp4')])
    assert list(out_dir.iterdir()) == []


def test_tool_image_topdown(topdown, tmp_path):
    tool = _tool()
    path, boxes = next(iter(annotated_boxes().items()))
    box_file = tmp_path / 'boxes.json'
    box_file.write_text(json.dumps(boxes.tolist()))
    out = tmp_path / 'pred.jpg'
    with pytest.raises(SystemExit, match='--bboxes'):
        tool.main([str(topdown.path), path, '--out', str(out)])
    assert not out.exists()
    tool.main([str(topdown.path), path, '--out', str(out), '--bboxes',
               str(box_file)])
    drawn = cv2.imread(str(out))
    assert drawn.shape == cv2.imread(path).shape
    assert np.abs(drawn.astype(int) - cv2.imread(path)).max() > 100
    inst = json.loads((tmp_path / 'pred.json').read_text())['instances']
    ref = topdown.runner(cv2.imread(path), boxes).pred_instances
    np.testing.assert_allclose([i['keypoints'] for i in inst], ref.keypoints,
                               atol=1e-3)
