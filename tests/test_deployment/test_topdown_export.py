"""ONNX export of top-down heatmap models with the decoding in the graph.

The model is the tiny DARK config with random weights whose BatchNorm
statistics come from the real person crops of data/coco_tiny, so that its
heatmaps have structure (maxima in different places, most of them refined
off the integer grid) rather than being flat.
"""
import inspect
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.conftest import COCO_TINY, COCO_TINY_ANN, REPO

ort = pytest.importorskip('onnxruntime')
onnx = pytest.importorskip('onnx')

DARK_TINY_CFG = REPO / 'configs' / \
    'td-hm_res18_dark-1xb12-300e_coco-tiny-128x96.py'
#: torch >= 2.5 has the dynamo exporter (dynamic batch); older torch
#: exports a fixed batch with the TorchScript exporter
DYNAMO = 'dynamo' in inspect.signature(torch.onnx.export).parameters
NO_DYNAMO = (f'torch {torch.__version__} has no dynamo ONNX exporter: the '
             'top-down graph exports with a fixed batch only '
             '(test_fixed_batch_export_equals_dark_codec covers it)')


def annotated_boxes():
    """{image path: (N, 4) float32 xyxy boxes} of the shipped annotations."""
    ann = json.loads(COCO_TINY_ANN.read_text())
    out = {}
    for im in ann['images']:
        boxes = np.array([a['bbox'] for a in ann['annotations']
                          if a['image_id'] == im['id'] and not a['iscrowd']],
                         np.float32).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        out[str(COCO_TINY / im['file_name'])] = boxes
    return out


def pipeline_crops(model):
    """The crops of every annotated person through mmpose's own test
    pipeline and data preprocessor: (inputs (N, 3, h, w), data_samples)."""
    from mmengine.dataset import Compose, pseudo_collate
    pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
    data = []
    for path, boxes in annotated_boxes().items():
        for box in boxes:
            info = dict(img_path=path, bbox=box[None],
                        bbox_score=np.ones(1, np.float32))
            info.update(model.dataset_meta)
            data.append(pipeline(info))
    batch = model.data_preprocessor(pseudo_collate(data))
    return batch['inputs'], batch['data_samples']


def calibrate_bn(model, forward, inputs, affine_seed=None):
    """Running BN statistics := those of ``forward(inputs)`` in train mode
    (random weights otherwise give near-constant outputs).

    With ``affine_seed``, the BN weights and biases are first drawn from
    U(0.4, 0.6) and U(0.5, 1.5) as tools/make_onestage_fixtures.py does for
    the SiLU networks: it keeps the activations on SiLU's nearly linear
    part, so that float32 differences between two runtimes are not
    amplified layer after layer (15-40x less error at the head).
    """
    bns = [m for m in model.modules()
           if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if affine_seed is not None:
        gen = torch.Generator().manual_seed(affine_seed)
        with torch.no_grad():
            for m in bns:
                m.weight.uniform_(0.4, 0.6, generator=gen)
                m.bias.uniform_(0.5, 1.5, generator=gen)
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative: exactly this batch
    model.train()
    with torch.no_grad():
        forward(inputs)
    model.eval()


def calibrated_dark_model():
    from mmpose.apis import init_model
    from mmpose.utils import register_all_modules

    import posekit_plugins  # noqa: F401
    register_all_modules(init_default_scope=True)
    torch.manual_seed(0)
    model = init_model(str(DARK_TINY_CFG), None, device='cpu')
    crops, samples = pipeline_crops(model)
    calibrate_bn(model, model.extract_feat, crops)
    return model, crops, samples


@pytest.fixture(scope='module')
def dark(tmp_path_factory):
    from posekit_plugins.codecs import dark_refinement
    from posekit_plugins.deployment import export_topdown
    if not DYNAMO:
        pytest.skip(NO_DYNAMO)
    model, crops, samples = calibrated_dark_model()
    path = tmp_path_factory.mktemp('topdown') / 'dark_flip.onnx'
    # the refinement's cached constants are first built inside the trace:
    # they must not stay fake tensors for the eager decoding afterwards
    dark_refinement._band_values.cache_clear()
    dark_refinement._stencil_values.cache_clear()
    export_topdown(model, model.cfg, str(path), dynamic_batch=True,
                   flip_test=True, output_heatmaps=True)
    session = ort.InferenceSession(str(path),
                                   providers=['CPUExecutionProvider'])
    kpts, scores, heatmaps = session.run(None, {'input': crops.numpy()})
    return SimpleNamespace(model=model, crops=crops, samples=samples,
                           path=path, session=session, kpts=kpts,
                           scores=scores, heatmaps=heatmaps)


def test_graph_equals_dark_codec_on_real_crops(dark):
    """The graph's keypoints = DARKHeatmap.batch_decode of the graph's own
    heatmaps (eager torch), within 1e-3 crop pixels; same scores."""
    codec = dark.model.head.decoder
    ref_kpts, ref_scores = codec.batch_decode(torch.from_numpy(dark.heatmaps))
    ref_kpts = np.concatenate(ref_kpts)
    ref_scores = np.concatenate(ref_scores)
    assert dark.kpts.shape == ref_kpts.shape == (len(dark.crops), 17, 2)
    np.testing.assert_allclose(dark.kpts, ref_kpts, rtol=0, atol=1e-3)
    np.testing.assert_allclose(dark.scores, ref_scores, rtol=0, atol=1e-6)
    # the heatmaps are not flat: the refinement moved most keypoints off
    # the integer grid, and the maxima differ between persons
    grid = dark.kpts / codec.scale_factor
    assert (np.abs(grid - np.round(grid)) > 1e-2).mean() > 0.4
    assert len(np.unique(np.round(grid).reshape(len(grid), -1),
                         axis=0)) == len(grid)
    # and the refinement is what the graph computes: the plain argmax is
    # off by more than the tolerance
    locs = np.argmax(dark.heatmaps.reshape(*dark.heatmaps.shape[:2], -1),
                     axis=-1)
    argmax = np.stack([locs % 24, locs // 24], -1) * codec.scale_factor
    assert np.abs(argmax - dark.kpts).max() > 0.5


def test_fixed_batch_export_equals_dark_codec(tmp_path):
    """A batch-1 graph (the only kind torch < 2.5 exports) decodes as
    DARKHeatmap.batch_decode of its own heatmaps, crop by crop; a dynamic
    batch is refused with a clear error where the exporter lacks it."""
    from posekit_plugins.codecs import dark_refinement
    from posekit_plugins.deployment import export_topdown
    model, crops, _ = calibrated_dark_model()
    dark_refinement._band_values.cache_clear()
    dark_refinement._stencil_values.cache_clear()
    path = tmp_path / 'dark_b1.onnx'
    export_topdown(model, model.cfg, str(path), output_heatmaps=True)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto)
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 1
    session = ort.InferenceSession(str(path),
                                   providers=['CPUExecutionProvider'])
    codec = model.head.decoder
    for i in (0, len(crops) - 1):
        kpts, scores, heatmaps = session.run(
            None, {'input': crops[i:i + 1].numpy()})
        ref_kpts, ref_scores = codec.batch_decode(torch.from_numpy(heatmaps))
        np.testing.assert_allclose(kpts, ref_kpts[0], rtol=0, atol=1e-3)
        np.testing.assert_allclose(scores, ref_scores[0], rtol=0, atol=1e-6)
    if not DYNAMO:
        with pytest.raises(ValueError, match='dynamic-batch'):
            export_topdown(model, model.cfg, str(tmp_path / 'dyn.onnx'),
                           dynamic_batch=True)


def test_graph_heatmaps_equal_mmpose_flip_test(dark):
    """The flip test in the graph merges the heatmaps as mmpose's
    HeatmapHead.predict does (flip, swap left/right, shift, mean)."""
    model = dark.model
    with torch.no_grad():
        feats = [model.extract_feat(dark.crops),
                 model.extract_feat(dark.crops.flip(-1))]
        _, fields = model.head.predict(
            feats, dark.samples,
            test_cfg=dict(flip_test=True, flip_mode='heatmap',
                          shift_heatmap=True, output_heatmaps=True))
    ref = torch.stack([f.heatmaps for f in fields]).numpy()
    scale = np.abs(ref).max()
    np.testing.assert_allclose(dark.heatmaps, ref, rtol=0, atol=1e-5 * scale)
    # without the flip the heatmaps differ (the test above is not vacuous)
    with torch.no_grad():
        plain = model.head.forward(feats[0]).numpy()
    assert np.abs(plain - ref).max() > 100 * 1e-5 * scale


def test_checker_metadata_and_batch(dark):
    from posekit_plugins.deployment import read_export_meta
    proto = onnx.load(str(dark.path))
    onnx.checker.check_model(proto, full_check=True)
    # written in opset 18 by torch, converted to the default 17
    assert [o.version for o in proto.opset_import if o.domain == ''] == [17]
    assert [i.name for i in proto.graph.input] == ['input']
    assert [o.name for o in proto.graph.output] == [
        'keypoints', 'keypoint_scores', 'heatmaps']
    batch_dim = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch_dim.dim_param and not batch_dim.HasField('dim_value')
    meta = read_export_meta(str(dark.path))
    assert meta['family'] == 'topdown'
    assert meta['opset'] == 17
    assert meta['input_size'] == [96, 128]
    assert meta['decoding']['type'] == 'DARKHeatmap'
    assert meta['decoding']['blur_kernel_size'] == 3
    assert meta['topdown']['bbox_padding'] == 1.25
    assert meta['topdown']['flip_test'] is True
    assert meta['dataset_meta']['flip_indices'][1:3] == [2, 1]
    assert meta['mean'] == pytest.approx([123.675, 116.28, 103.53])
    assert meta['bgr_to_rgb'] is True
    # batch 1, crop by crop, equals the whole batch
    for i in (0, 5, len(dark.crops) - 1):
        k, s, _ = dark.session.run(None,
                                   {'input': dark.crops[i:i + 1].numpy()})
        np.testing.assert_allclose(k[0], dark.kpts[i], rtol=0, atol=1e-4)
        np.testing.assert_allclose(s[0], dark.scores[i], rtol=0, atol=1e-6)


def gaussian_heatmaps(n, seed=0):
    """(n, 17, 32, 24) model-like heatmaps: a Gaussian of random centre,
    width and height per channel on a little positive noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:32, 0:24].astype(np.float64)
    c = rng.uniform([1, 1], [23, 31], size=(n, 17, 2))[..., None, None]
    s = rng.uniform(0.8, 2.5, size=(n, 17))[..., None, None]
    a = rng.uniform(0.2, 1.0, size=(n, 17))[..., None, None]
    hm = a * np.exp(-((x - c[:, :, 0])**2 + (y - c[:, :, 1])**2) / (2 * s**2))
    return (hm + 0.02 * rng.random(hm.shape)).astype(np.float32)


@pytest.mark.parametrize('unbiased', [False, True])
def test_msra_decoding_equals_mmpose(dark, tmp_path, unbiased):
    """mmpose's MSRAHeatmap (quarter offset / unbiased: DARK refinement)
    decoding as a graph equals MSRAHeatmap.decode: on the real-crop
    heatmaps for the quarter offset; for the unbiased decoding on
    model-like heatmaps, as mmpose's Taylor step is not clipped and leaves
    the map where the random model's heatmaps are negative around the
    maximum (DARKHeatmap's refinement stays in it, docs/dark.md)."""
    from mmpose.codecs import MSRAHeatmap

    from posekit_plugins.deployment.topdown import (
        HeatmapDecodingModule,
        _onnx_export,
        msra_decode_torch,
    )
    codec = MSRAHeatmap(input_size=(96, 128), heatmap_size=(24, 32),
                        sigma=1, unbiased=unbiased, blur_kernel_size=3)
    hms = gaussian_heatmaps(12) if unbiased else dark.heatmaps
    ref = [codec.decode(h) for h in hms]
    ref_k = np.concatenate([r[0] for r in ref])
    ref_s = np.concatenate([r[1] for r in ref])
    # exact for the quarter offset; float32 rounding for the Taylor step
    atol = 1e-3 if unbiased else 1e-5
    k, s = msra_decode_torch(torch.from_numpy(hms), codec.scale_factor,
                             unbiased, 3)
    np.testing.assert_allclose(k.numpy(), ref_k, rtol=0, atol=atol)
    np.testing.assert_array_equal(s.numpy(), ref_s)
    path = tmp_path / 'msra.onnx'
    with torch.no_grad():
        _onnx_export(HeatmapDecodingModule(codec).eval(),
                     torch.from_numpy(hms[:2]), str(path), 18, True,
                     ['keypoints', 'keypoint_scores'])
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    k, s = sess.run(None, {'input': hms})
    np.testing.assert_allclose(k, ref_k, rtol=0, atol=atol)
    np.testing.assert_array_equal(s, ref_s)
    frac = ref_k / codec.scale_factor - np.floor(ref_k / codec.scale_factor)
    if unbiased:  # sub-pixel positions, not the argmax
        assert (np.abs(frac - np.round(frac)) > 0.05).mean() > 0.5
    else:  # the quarter offsets happen
        assert (np.abs(frac - 0.25) < 1e-6).any() and \
            (np.abs(frac - 0.75) < 1e-6).any()


def test_bad_input(dark, tmp_path):
    from mmpose.codecs import SimCCLabel

    from posekit_plugins.deployment import export_topdown
    from posekit_plugins.deployment.topdown import HeatmapDecodingModule
    model = dark.model
    out = tmp_path / 'x.onnx'
    with pytest.raises(ValueError, match='opset 14 is too old'):
        export_topdown(model, model.cfg, str(out), opset=14)
    with pytest.raises(ValueError, match='codec input size'):
        export_topdown(model, model.cfg, str(out), input_size=(192, 256))
    with pytest.raises(ValueError, match="codec 'SimCCLabel'"):
        HeatmapDecodingModule(SimCCLabel(input_size=(96, 128),
                                         sigma=(4.0, 4.0)))
    with pytest.raises(ValueError, match='not a top-down heatmap model'):
        export_topdown(torch.nn.Linear(2, 2), model.cfg, str(out))
    assert not out.exists()
