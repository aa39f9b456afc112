"""End-to-end ONNX export of the one-stage models: onnxruntime equals the
PyTorch path (``head.predict``) on the shipped real images."""
import glob

import numpy as np
import pytest
import torch

from tests.conftest import COCO_TINY, REPO

onnx = pytest.importorskip('onnx')
ort = pytest.importorskip('onnxruntime')

CONFIGS = {
    'yolopose_tiny': 'configs/yolopose_tiny_1xb4-300e_coco-tiny-256.py',
    'kapao_tiny': 'configs/kapao_tiny_1xb4-300e_coco-tiny-256.py',
    'yolopose_s6': 'configs/yolopose_s6_4xb16-300e_coco-640.py',
    'kapao_s6': 'configs/kapao_s6_4xb16-300e_coco-640.py',
}
_CACHE = {}


def _load_cfg(name):
    from mmengine.config import Config
    cfg = Config.fromfile(str(REPO / CONFIGS[name]))
    if cfg.model.head.type == 'KAPAOHead':
        # random weights give no keypoint object above 0.2 and few persons
        # above 0.3: lower both so that the fusion has work to do
        cfg.model.test_cfg = dict(cfg.model.test_cfg, kpt_score_thr=0.01,
                                  fusion_person_thr=0.0)
    return cfg


def _real_batch(model, cfg):
    """The 4 shipped images through the config's test pipeline and data
    preprocessor: (4, 3, H, W) inputs and their data samples."""
    from mmengine.dataset import Compose, pseudo_collate
    pipe = Compose(cfg.test_dataloader.dataset.pipeline)
    paths = sorted(glob.glob(str(COCO_TINY / '*.jpg')))
    data = [pipe(dict(img_path=p, id=i, img_id=i)) for i, p in enumerate(paths)]
    batch = model.data_preprocessor(pseudo_collate(data), False)
    return batch['inputs'], batch['data_samples']


def _export(name, tmp_dir):
    """Random weights with BN statistics from the real images, saved as a
    checkpoint and exported through ``export_onnx`` (dynamic batch)."""
    if name in _CACHE:
        return _CACHE[name]
    from mmpose.apis import init_model

    from posekit_plugins.deployment.export import export_onnx
    cfg = _load_cfg(name)
    torch.manual_seed(0)
    model = init_model(cfg, None, device='cpu')
    x, samples = _real_batch(model, cfg)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
            m.momentum = None  # cumulative average: one pass sets them
    model.train()
    with torch.no_grad():
        model.head.forward(model.extract_feat(x))
    model.eval()
    ckpt = tmp_dir / f'{name}.pth'
    torch.save(dict(state_dict=model.state_dict()), ckpt)
    out = export_onnx(cfg, str(ckpt), str(tmp_dir / f'{name}.onnx'),
                      dynamic_batch=True)
    sess = ort.InferenceSession(out, providers=['CPUExecutionProvider'])
    names = [o.name for o in sess.get_outputs()]
    _CACHE[name] = dict(cfg=cfg, model=model, x=x, samples=samples, out=out,
                        run=lambda a: dict(zip(names, sess.run(None, {
                            'input': a.numpy()}))))
    return _CACHE[name]


@pytest.fixture(scope='module')
def tmp_dir(tmp_path_factory):
    return tmp_path_factory.mktemp('onnx')


def _float32_noise(model, x):
    """Largest gaps between the float32 and float64 PyTorch decodings over
    every anchor (keypoints in input pixels, scores): the precision floor
    below which two float32 implementations of the network (PyTorch's and
    onnxruntime's convolutions) cannot be expected to agree."""
    import copy
    m64 = copy.deepcopy(model).double()
    with torch.no_grad():
        d32 = model.head.decode(model.head.forward(model.extract_feat(x)))
        d64 = m64.head.decode(m64.head.forward(m64.extract_feat(x.double())))

    def gap(k):
        return float((d32[k].double() - d64[k]).abs().max())

    score = float((d32['obj'] * d32['cls'].max(-1).values).double().sub(
        d64['obj'] * d64['cls'].max(-1).values).abs().max())
    return dict(keypoints=gap('keypoints'), bboxes=gap('bboxes'),
                scores=score,
                keypoint_scores=gap('keypoint_scores')
                if 'keypoint_scores' in d32 else score)


def _match(got, ref):
    """Pair each onnxruntime detection with a PyTorch one (one-to-one, by
    box and score: near-equal scores may swap places in the order)."""
    n = len(ref.bbox_scores)
    assert len(got['scores']) == n
    if n == 0:
        return np.zeros(0, int)
    d = np.abs(got['boxes'][:, None] - ref.bboxes[None]).max(-1) + \
        1e3 * np.abs(got['scores'][:, None] - ref.bbox_scores[None])
    j = d.argmin(1)
    assert len(set(j.tolist())) == n, 'not a one-to-one match'
    return j


# the s6 exports take 1-3 min each on 2 loaded CPU cores: `slow` (run by
# the full test run, left out of the quick one)
@pytest.mark.parametrize('name', [
    pytest.param(n, marks=pytest.mark.slow) if 's6' in n else n
    for n in CONFIGS
])
def test_onnxruntime_equals_pytorch_on_real_images(name, tmp_dir):
    from posekit_plugins.deployment import read_export_meta
    from posekit_plugins.deployment.onestage import postprocess_onestage
    e = _export(name, tmp_dir)
    model, x, samples = e['model'], e['x'], e['samples']
    meta = read_export_meta(e['out'])
    got = postprocess_onestage(e['run'](x), meta,
                               [s.metainfo for s in samples])
    with torch.no_grad():
        ref = model.head.predict(model.extract_feat(x), samples,
                                 test_cfg=model.test_cfg)
    # the tolerances, or twice the float32 noise of the network
    # where that is larger (deep random networks: docs/deployment.md)
    noise = _float32_noise(model, x)
    tol = {k: max(v, 2 * noise[k]) for k, v in dict(
        scores=1e-4, keypoint_scores=1e-4, keypoints=0.01,
        bboxes=0.01).items()}
    total = fused = 0
    worst = dict.fromkeys(tol, 0.0)
    for g, r in zip(got, ref):
        j = _match(g, r)
        total += len(j)
        assert len(j) > 0, 'no detection: the comparison would be empty'
        for k, a, b in (('scores', g['scores'], r.bbox_scores[j]),
                        ('keypoint_scores', g['keypoint_scores'],
                         r.keypoint_scores[j]),
                        ('keypoints', g['keypoints'], r.keypoints[j]),
                        ('bboxes', g['boxes'], r.bboxes[j])):
            err = float(np.abs(a - b).max())
            worst[k] = max(worst[k], err)
            assert err <= tol[k], (k, err, tol[k], noise[k])
        # fused keypoints carry their keypoint object's score
        fused += int((np.abs(g['keypoint_scores'] -
                             g['scores'][:, None]) > 1e-6).sum())
    assert total >= 20
    print(f'\n{name}: {total} persons; max |onnx - pytorch| {worst}; '
          f'float32 noise {noise}')
    if meta['postprocess']['fusion']:
        assert fused > 0, 'KAPAO: no keypoint was fused, fusion untested'


@pytest.mark.parametrize('name', ['yolopose_tiny', 'kapao_tiny'])
def test_batch_1_equals_batch_4_and_images_differ(name, tmp_dir):
    e = _export(name, tmp_dir)
    four = e['run'](e['x'])
    assert four['boxes'].shape == (4, e['model'].test_cfg['max_per_img'], 4)
    for i in range(4):
        one = e['run'](e['x'][i:i + 1])
        assert one['num_dets'].shape == (1, )
        assert one['num_dets'][0] == four['num_dets'][i]
        for k in one:
            np.testing.assert_allclose(one[k][0], four[k][i], atol=1e-3)
    # the images give different detections: nothing is baked in
    assert not np.allclose(four['boxes'][0], four['boxes'][1])
    assert not np.array_equal(four['num_dets'][:1], four['num_dets'][1:2]) \
        or not np.allclose(four['scores'][0], four['scores'][1])
    # zero padding after num_dets
    n = int(four['num_dets'][0])
    assert (four['scores'][0, n:] == 0).all()
    assert (four['keypoints'][0, n:] == 0).all()


@pytest.mark.parametrize('name', ['yolopose_tiny', 'kapao_tiny'])
def test_graph_checks_and_metadata(name, tmp_dir):
    from posekit_plugins.deployment import read_export_meta
    from posekit_plugins.deployment.export import outputs_without_input
    e = _export(name, tmp_dir)
    model = onnx.load(e['out'])
    onnx.checker.check_model(model)
    assert outputs_without_input(model) == []
    assert 'NonMaxSuppression' in {n.op_type for n in model.graph.node}
    meta = read_export_meta(e['out'])
    assert meta['family'] == 'onestage'
    assert meta['input_size'] == [256, 256]
    assert meta['test_pipeline']['mode'] == 'letterbox'
    assert meta['bgr_to_rgb'] is True and meta['std'] == [255.0] * 3
    assert meta['outputs'][:5] == ['boxes', 'scores', 'keypoints',
                                   'keypoint_scores', 'num_dets']
    assert [o.name for o in model.graph.output] == meta['outputs']
    fusion = meta['postprocess']['fusion']
    if name.startswith('kapao'):
        assert fusion['where'] == 'runner' and fusion['enabled']
    else:
        assert fusion is None
    assert model.graph.input[0].name == 'input'
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param


def test_bad_inputs_fail_clearly(tmp_path):
    from posekit_plugins.deployment.export import export_onnx
    cfg = str(REPO / CONFIGS['yolopose_tiny'])
    with pytest.raises(FileNotFoundError, match='checkpoint not found'):
        export_onnx(cfg, str(tmp_path / 'missing.pth'), str(tmp_path / 'a'))
    with pytest.raises(ValueError, match='NonMaxSuppression.*opset >= 11'):
        export_onnx(cfg, None, str(tmp_path / 'a.onnx'), opset=10)
    assert not (tmp_path / 'a.onnx').exists()
    with pytest.raises(ValueError, match="unsupported model family.*"
                       'YOLOXPoseHead'):
        export_onnx(str(REPO / 'configs/yoloxpose_tiny_1xb4-300e_coco-tiny'
                        '-256.py'), None, str(tmp_path / 'b.onnx'))


def test_a_baked_trace_fails_the_export(tmp_path, monkeypatch):
    """A selection that reads indices on the host (what broke the naive
    export) must fail the export, and leave no file."""
    from mmengine.config import Config
    from mmpose.apis import init_model

    from posekit_plugins.deployment import onestage
    real = onestage.batched_select_nms

    def baked(*args, **kwargs):
        idx, valid, num = real(*args, **kwargs)
        # the host round trip makes these constants of the traced image
        return (torch.tensor(idx.tolist()), torch.tensor(valid.tolist()),
                torch.tensor(num.tolist()))

    monkeypatch.setattr(onestage, 'batched_select_nms', baked)
    cfg = Config.fromfile(str(REPO / CONFIGS['yolopose_tiny']))
    torch.manual_seed(0)
    model = init_model(cfg, None, device='cpu')
    out = tmp_path / 'baked.onnx'
    with pytest.raises(RuntimeError, match='constants'):
        onestage.export_onestage(model, cfg, str(out))
    assert not out.exists()


def test_meta_round_trip_and_errors(tmp_path):
    from onnx import TensorProto, helper

    from posekit_plugins.deployment import read_export_meta, write_export_meta
    node = helper.make_node('Identity', ['input'], ['y'])
    graph = helper.make_graph(
        [node], 'g', [helper.make_tensor_value_info('input', TensorProto.FLOAT,
                                                    [1])],
        [helper.make_tensor_value_info('y', TensorProto.FLOAT, [1])])
    path = tmp_path / 'm.onnx'
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ValueError, match="no 'posekit' entry"):
        read_export_meta(path)
    meta = dict(family='topdown', config='c.py', input_size=(192, 256),
                mean=np.array([1.0, 2.0, 3.0]), std=[1, 1, 1],
                bgr_to_rgb=False, num_keypoints=np.int64(17),
                outputs=('keypoints', ), extra=dict(a=(1, 2)))
    write_export_meta(str(path), meta)
    back = read_export_meta(str(path))
    assert back['input_size'] == [192, 256] and back['mean'] == [1, 2, 3]
    assert back['num_keypoints'] == 17 and back['extra'] == dict(a=[1, 2])
    assert back['version'] == 1
    write_export_meta(str(path), dict(meta, family='onestage'))  # replaces
    assert read_export_meta(path)['family'] == 'onestage'
    assert sum(p.key == 'posekit'
               for p in onnx.load(str(path)).metadata_props) == 1
    with pytest.raises(ValueError, match='family must be one of'):
        write_export_meta(str(path), dict(meta, family='bottomup'))
    with pytest.raises(ValueError, match=r"missing keys \['mean'\]"):
        write_export_meta(str(path), {
            k: v for k, v in meta.items() if k != 'mean'})
    with pytest.raises(FileNotFoundError, match='ONNX model not found'):
        read_export_meta(tmp_path / 'none.onnx')


@pytest.mark.parametrize('tol_mode,tol', [('original', 30.0), ('person', 0.3)])
def test_kapao_fusion_tolerance_modes(tol_mode, tol, tmp_dir):
    """The runner's fusion reads the tolerance as the head does in every
    mode (the graph does not depend on it: only the metadata changes)."""
    from posekit_plugins.deployment import read_export_meta
    from posekit_plugins.deployment.onestage import postprocess_onestage
    e = _export('kapao_tiny', tmp_dir)
    model, x, samples = e['model'], e['x'], e['samples']
    meta = read_export_meta(e['out'])
    meta['postprocess']['fusion'].update(tol=tol, tol_mode=tol_mode)
    outs = e['run'](x)
    metas = [s.metainfo for s in samples]
    got = postprocess_onestage(outs, meta, metas)
    cfg = dict(model.test_cfg, fusion_tol=tol, fusion_tol_mode=tol_mode)
    with torch.no_grad():
        ref = model.head.predict(model.extract_feat(x), samples, test_cfg=cfg)
    for g, r in zip(got, ref):
        j = _match(g, r)
        # same keypoint objects fused into the same keypoints
        np.testing.assert_allclose(g['keypoint_scores'],
                                   r.keypoint_scores[j], atol=1e-4)
    # one image without its batch dimension: the same result
    one = postprocess_onestage({k: v[1] for k, v in outs.items()}, meta,
                               metas[1])
    for k in one:
        np.testing.assert_array_equal(one[k], got[1][k])


@pytest.mark.parametrize('name', ['yolopose_tiny', 'kapao_tiny'])
def test_postprocess_of_an_image_without_detections(name, tmp_dir):
    from posekit_plugins.deployment import read_export_meta
    from posekit_plugins.deployment.onestage import postprocess_onestage
    e = _export(name, tmp_dir)
    outs = e['run'](e['x'][:2])
    outs['num_dets'][0] = 0  # image 0 found nobody, image 1 is unchanged
    res = postprocess_onestage(outs, read_export_meta(e['out']),
                               [s.metainfo for s in e['samples'][:2]])
    assert res[0]['keypoints'].shape == (0, 17, 2)
    assert res[0]['boxes'].shape == (0, 4) and res[0]['scores'].shape == (0, )
    assert len(res[1]['scores']) == int(outs['num_dets'][1]) > 0


@pytest.mark.parametrize('nms_thr,nms_pre', [(0.5, 10000), (0.5, 120),
                                             (1.0, 10000)])
def test_batched_selection_equals_the_per_image_one(nms_thr, nms_pre):
    """The graph's selection keeps what the head's keeps, in the same
    order: several classes, the nms_pre cap, non-finite boxes, fewer
    survivors than max_per_img in one image."""
    from posekit_plugins.models.task_modules import (
        batched_select_nms,
        select_and_nms,
    )
    g = torch.Generator().manual_seed(1)
    B, N, C = 3, 400, 3
    xy = torch.rand((B, N, 2), generator=g) * 200
    wh = torch.rand((B, N, 2), generator=g) * 60 + 1
    bboxes = torch.cat([xy, xy + wh], -1)
    bboxes[0, :5] = float('nan')
    scores = torch.rand((B, N), generator=g)
    scores[2] *= 0.011  # image 2: few candidates above the threshold
    labels = torch.randint(0, C, (B, N), generator=g)
    idx, valid, num = batched_select_nms(bboxes, scores, labels, C, 0.01,
                                         nms_thr, nms_pre, 100)
    assert idx.shape == valid.shape == (B, 100)
    for b in range(B):
        ref = select_and_nms(bboxes[b], scores[b], labels[b], 0.01, nms_thr,
                             nms_pre, 100)
        n = int(num[b])
        assert n == len(ref) and valid[b, :n].all() and not valid[b, n:].any()
        assert idx[b, :n].tolist() == ref.tolist()
    assert int(num[2]) < 100
