"""tools/inference.py on an image, a folder and a video; thresholds; errors."""
import importlib.util
import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from tests.conftest import COCO_TINY, COCO_TINY_ANN, REPO, TINY_TOPDOWN_CFG

ONE_STAGE_CFG = REPO / 'configs' / 'yolopose_tiny_1xb4-300e_coco-tiny-256.py'
AE_CFG = REPO / 'configs' / 'ae_higherhrnet-tiny_1xb4-300e_coco-tiny-256x256.py'
IMAGE = COCO_TINY / '000000196141.jpg'


def _load_tool():
    import sys
    sys.path.insert(0, str(REPO / 'tools'))
    spec = importlib.util.spec_from_file_location(
        'inference_tool', REPO / 'tools' / 'inference.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _load_tool()


def _random_checkpoint(cfg_path, path):
    """A randomly initialised model saved as mmengine does (with the
    dataset meta the inferencer reads)."""
    from mmengine.config import Config
    from mmengine.runner import save_checkpoint
    from mmpose.apis import init_model
    model = init_model(Config.fromfile(str(cfg_path)), None, device='cpu')
    save_checkpoint({'state_dict': model.state_dict(),
                     'meta': {'dataset_meta': model.dataset_meta}}, str(path))
    return path


@pytest.fixture(scope='module')
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp('ckpt')
    return dict(
        onestage=_random_checkpoint(ONE_STAGE_CFG, root / 'yolopose.pth'),
        topdown=_random_checkpoint(TINY_TOPDOWN_CFG, root / 'td.pth'))


def run(*argv):
    return tool.main([str(a) for a in argv] + ['--device', 'cpu',
                                               '--no-progress'])


def _scores(path):
    return sorted(p['bbox_score'] for p in json.loads(path.read_text())[
        'persons'])


def test_model_family_and_its_default_threshold():
    from mmengine.config import Config
    families = {cfg: tool.model_family(Config.fromfile(str(cfg)))
                for cfg in (ONE_STAGE_CFG, AE_CFG, TINY_TOPDOWN_CFG)}
    assert families == {ONE_STAGE_CFG: 'one-stage', AE_CFG: 'bottom-up',
                        TINY_TOPDOWN_CFG: 'top-down'}
    # far above the test_cfg's 0.001 kept for COCO AP
    assert all(v >= 0.1 for v in tool.DEFAULT_SCORE_THR.values())


def test_folder_one_stage_and_threshold_filters(ckpts, tmp_path):
    low = tmp_path / 'low'
    assert run(ONE_STAGE_CFG, ckpts['onestage'], COCO_TINY, '--out', low,
               '--score-thr', 0) == 0
    images = sorted(COCO_TINY.glob('*.jpg'))
    assert sorted(p.name for p in low.iterdir()) == sorted(
        [p.name for p in images] + [p.stem + '.json' for p in images])
    for img in images:
        data = json.loads((low / (img.stem + '.json')).read_text())
        assert data['model_family'] == 'one-stage'
        assert data['score_thr'] == 0
        assert data['persons'], img
        for p in data['persons']:
            assert np.asarray(p['keypoints']).shape == (17, 2)
            assert len(p['keypoint_scores']) == 17
        drawn, orig = cv2.imread(str(low / img.name)), cv2.imread(str(img))
        assert drawn.shape == orig.shape and (drawn != orig).any()
    # a threshold inside the scores keeps exactly those above it (the head
    # filters before NMS, which only suppresses lower-scoring persons)
    scores = _scores(low / (IMAGE.stem + '.json'))
    thr = float(np.median(scores))
    high = tmp_path / 'high'
    assert run(ONE_STAGE_CFG, ckpts['onestage'], IMAGE, '--out', high,
               '--score-thr', thr) == 0
    kept = _scores(high / (IMAGE.stem + '.json'))
    assert 0 < len(kept) < len(scores)
    assert kept == pytest.approx([s for s in scores if s > thr], abs=1e-6)
    assert sorted(p.name for p in high.iterdir()) == sorted(
        [IMAGE.stem + '.json', IMAGE.name])


def test_topdown_boxes_from_coco_file_and_dict(ckpts, tmp_path):
    coco = COCO(str(COCO_TINY_ANN))
    img_id = next(i for i, im in coco.imgs.items()
                  if im['file_name'] == IMAGE.name)
    anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id, iscrowd=False))
    assert run(TINY_TOPDOWN_CFG, ckpts['topdown'], IMAGE, '--out', tmp_path / 'a',
               '--bboxes', COCO_TINY_ANN) == 0
    persons = json.loads((tmp_path / 'a' / (IMAGE.stem + '.json')).read_text())[
        'persons']
    want = sorted([a['bbox'][0], a['bbox'][1], a['bbox'][0] + a['bbox'][2],
                   a['bbox'][1] + a['bbox'][3]] for a in anns)
    assert len(persons) == len(anns) > 1  # no NMS between given boxes
    got = np.array(sorted(p['bbox'][0] for p in persons))
    np.testing.assert_allclose(got, np.array(want), atol=1e-3)
    # default threshold 0.3 on given scores; an image with no box left gets no
    # person (mmpose would fall back to the whole image)
    boxes = tmp_path / 'boxes.json'
    boxes.write_text(json.dumps({IMAGE.name: [[10, 20, 200, 300, 0.9],
                                              [50, 60, 150, 250, 0.2]],
                                 '000000000785.jpg': []}))
    for name, count in ((IMAGE.name, 1), ('000000000785.jpg', 0)):
        out = tmp_path / name
        assert run(TINY_TOPDOWN_CFG, ckpts['topdown'], COCO_TINY / name,
                   '--out', out, '--bboxes', boxes) == 0
        data = json.loads((out / (name[:-4] + '.json')).read_text())
        assert len(data['persons']) == count and data['score_thr'] == 0.3
        # nothing drawn: the input as cv2 writes it (the same JPEG encoding)
        orig = cv2.imread(str(COCO_TINY / name))
        rewritten = cv2.imdecode(cv2.imencode('.jpg', orig)[1], cv2.IMREAD_COLOR)
        drawn = cv2.imread(str(out / name))
        assert (drawn != rewritten).any() == bool(count)
    assert data['persons'] == [] and count == 0


def test_video_topdown_whole_image(ckpts, tmp_path):
    video = tmp_path / 'clip.mp4'
    frames = [cv2.resize(cv2.imread(str(p)), (160, 120))
              for p in sorted(COCO_TINY.glob('*.jpg'))[:3]]
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'mp4v'), 5,
                             (160, 120))
    for f in frames:
        writer.write(f)
    writer.release()
    out = tmp_path / 'out'
    assert run(TINY_TOPDOWN_CFG, ckpts['topdown'], video, '--out', out) == 0
    assert sorted(p.name for p in out.iterdir()) == ['clip.json', 'clip.mp4']
    data = json.loads((out / 'clip.json').read_text())
    assert [f['frame_id'] for f in data['frames']] == [0, 1, 2]
    for f in data['frames']:  # no detector: one whole-image person
        (p,) = f['persons']
        assert p['bbox'][0] == pytest.approx([0, 0, 160, 120])
        assert np.asarray(p['keypoints']).shape == (17, 2)
    cap = cv2.VideoCapture(str(out / 'clip.mp4'))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 3
    ok, first = cap.read()
    assert ok and first.shape == (120, 160, 3)
    cap.release()


def test_bad_inputs_give_clear_errors_and_no_files(ckpts, tmp_path, capsys):
    out = tmp_path / 'out'
    bad_image = tmp_path / 'broken.jpg'
    bad_image.write_bytes(b'not a jpeg')
    bad_video = tmp_path / 'broken.mp4'
    bad_video.write_bytes(b'not a video')
    cases = [
        ((ONE_STAGE_CFG, tmp_path / 'missing.pth', IMAGE),
         'checkpoint not found'),
        ((ONE_STAGE_CFG, ckpts['onestage'], bad_image),
         f'cannot read the image {bad_image}'),
        ((ONE_STAGE_CFG, ckpts['onestage'], bad_video),
         f'cannot open the video {bad_video}'),
        ((ONE_STAGE_CFG, ckpts['onestage'], tmp_path / 'nope.jpg'),
         'input not found'),
        ((ONE_STAGE_CFG, ckpts['onestage'], IMAGE, '--bboxes', COCO_TINY_ANN),
         'are for top-down models'),
        ((TINY_TOPDOWN_CFG, ckpts['topdown'], IMAGE, '--bboxes', bad_image),
         'cannot read JSON'),
    ]
    for argv, message in cases:
        assert run(*argv, '--out', out) == 1, argv
        assert message in capsys.readouterr().err, argv
        assert not out.exists() or not any(out.iterdir()), argv
