"""YOLOv5's 4-image mosaic, as YOLO-Pose's and KAPAO's ``load_mosaic``."""
from numbers import Integral
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from mmpose.datasets.transforms.mix_img_transforms import MixImageTransform
from mmpose.registry import TRANSFORMS

#: per-instance keys moved (points) or carried along with the instances
POINT_KEYS = ('bbox', 'keypoints')
INSTANCE_KEYS = ('bbox', 'bbox_score', 'category_id', 'keypoints',
                 'keypoints_visible', 'area', 'id', 'iscrowd',
                 'num_keypoints')


def num_instances(results: Dict) -> int:
    """The number of instances in ``results`` (0 without annotations)."""
    for key in ('bbox', 'keypoints'):
        if results.get(key) is not None:
            return int(np.asarray(results[key]).shape[0])
    return 0


def select_instances(results: Dict, keep: np.ndarray) -> None:
    """Keep the instances where ``keep`` (bool, (N,)) in every per-instance
    key of :data:`INSTANCE_KEYS` that is present, in place."""
    keep = np.asarray(keep, dtype=bool)
    for key in INSTANCE_KEYS:
        value = results.get(key)
        if value is None:
            continue
        if isinstance(value, np.ndarray):
            results[key] = value[keep]
        elif isinstance(value, (list, tuple)) and len(value) == keep.size:
            results[key] = [v for v, k in zip(value, keep) if k]


def _square(size, name: str) -> int:
    if isinstance(size, Sequence) and len(size) == 2 and size[0] == size[1]:
        size = size[0]
    if not isinstance(size, Integral) or isinstance(size, bool) or size <= 0:
        raise ValueError(f'{name} must be a positive int (YOLOv5 trains on '
                         f'squares) or an (s, s) pair, got {size!r}')
    return int(size)


@TRANSFORMS.register_module()
class YOLOv5Mosaic(MixImageTransform):
    """Four images on one ``2s x 2s`` canvas, exactly as YOLOv5's
    ``load_mosaic`` (`YOLOv5 <https://github.com/ultralytics/yolov5>`_), the
    training input of YOLO-Pose (`arXiv:2204.06806
    <https://arxiv.org/abs/2204.06806>`_) and KAPAO (`arXiv:2111.08557
    <https://arxiv.org/abs/2111.08557>`_).

    Steps, with ``s = img_scale``:

    1. the mosaic centre ``(xc, yc)``: ``int(uniform(*center_range) * s)``
       each (YOLOv5: ``int(random.uniform(s / 2, 3 s / 2))``, y drawn first);
    2. each image is resized as the originals' ``load_image`` does in
       training (``augment=True``): the long side to ``s`` with
       ``cv2.resize(img, (int(w0 * r), int(h0 * r)))``, ``r = s / max(h0,
       w0)``, ``INTER_LINEAR`` (also when shrinking: ``INTER_AREA`` is only
       used without augmentation), skipped when ``r == 1``;
    3. the four tiles go top-left, top-right, bottom-left, bottom-right of
       the centre on a canvas filled with ``pad_val``, cropped at the canvas
       border;
    4. annotations are scaled by ``w / w0`` in x and ``h / h0`` in y (the
       truncated resized size over the original one, as the originals'
       normalised labels are) and shifted with their tile; then boxes and
       keypoints are clipped to ``[0, 2s]`` (``outside='clip'``, the
       originals' ``np.clip(labels4[:, 1:], 0, 2 * s)``: coordinates clipped,
       visibility kept) or keypoints outside the canvas are made invisible
       (``outside='invisible'``, mmpose's ``Mosaic``).

    Differences from mmpose's ``Mosaic``: it scales annotations by the
    untruncated ``r`` (up to ``1 / s`` relative apart), marks keypoints
    outside the canvas invisible instead of clipping them, and (followed by
    ``BottomupRandomAffine``, which pivots on the output centre) trains on
    the top-left quadrant of the canvas; use :class:`YOLOv5RandomPerspective`
    after this transform, which crops around the canvas centre as YOLOv5.

    Note:
        Shapes: input ``img`` (h0, w0, 3) uint8 BGR, ``bbox`` (N, 4) xyxy,
        ``keypoints`` (N, K, 2), ``keypoints_visible`` (N, K), ``area``
        (N,), ``bbox_score`` (N,), ``category_id`` (N,); output ``img``
        (2s, 2s, 3) and the annotations of the four images concatenated
        (N0 + N1 + N2 + N3 instances) in canvas pixels. Images without
        annotations (``bbox`` (0, 4)) are fine.

    Required keys: ``img`` (and, from the dataset, ``dataset`` for the
    three extra images). Optional keys: :data:`INSTANCE_KEYS`.

    Modified keys: ``img``, ``img_shape``, the optional keys.

    Args:
        img_scale (int | Tuple[int, int]): ``s``, the training input size
            (a square: ``(s, s)`` is accepted). Defaults to 640.
        center_range (Tuple[float, float]): Range of the centre, in units of
            ``s``. Defaults to (0.5, 1.5) (YOLOv5's ``mosaic_border``).
        pad_val (float): Canvas colour. Defaults to 114.
        outside (str): ``'clip'`` (the originals) or ``'invisible'``, see
            step 4. Defaults to ``'clip'``.
        pre_transform (Sequence[dict], optional): Transforms to load the
            three extra images (``[dict(type='LoadImage')]``).
        prob (float): Probability of the mosaic (YOLOv5's ``hyp['mosaic']``).
            Defaults to 1.0, as both originals. With ``prob < 1`` the
            other samples pass through unchanged, which is not the
            originals' non-mosaic path (load_image + letterbox + warp
            without border).
    """

    num_aux_image = 3

    def __init__(self,
                 img_scale=640,
                 center_range: Tuple[float, float] = (0.5, 1.5),
                 pad_val: float = 114.0,
                 outside: str = 'clip',
                 pre_transform: Optional[Sequence[dict]] = None,
                 prob: float = 1.0) -> None:
        super().__init__(pre_transform=pre_transform, prob=prob)
        self.img_scale = _square(img_scale, 'img_scale')
        if len(center_range) != 2 or center_range[0] > center_range[1]:
            raise ValueError('center_range must be (low, high), got '
                             f'{center_range!r}')
        self.center_range = tuple(float(c) for c in center_range)
        self.pad_val = float(pad_val)
        if outside not in ('clip', 'invisible'):
            raise ValueError(
                f"outside must be 'clip' or 'invisible', got {outside!r}")
        self.outside = outside

    def _get_mixed_data_list(self, dataset) -> List[dict]:
        if dataset is None:
            raise ValueError(
                'YOLOv5Mosaic needs results["dataset"] to draw its three '
                'other images (mmpose datasets set it in prepare_data); '
                'call mosaic() with four results to use it without one.')
        # as mmpose's, without its second deep copy: get_data_info already
        # returns a fresh copy (unpickled or deep-copied), and copying the
        # COCO polygons again costs more than decoding the image
        mixed = []
        for index in np.random.randint(0, len(dataset), self.num_aux_image):
            data = dataset.get_data_info(int(index))
            if self.pre_transform is not None:
                data['dataset'] = dataset
                data = self.pre_transform(data)
                data.pop('dataset')
            mixed.append(data)
        return mixed

    def get_center(self) -> Tuple[int, int]:
        """Draw the mosaic centre ``(xc, yc)`` (y first, as the original)."""
        s, (lo, hi) = self.img_scale, self.center_range
        yc = int(np.random.uniform(lo * s, hi * s))
        xc = int(np.random.uniform(lo * s, hi * s))
        return xc, yc

    def apply_mix(self, results: dict) -> dict:
        mixed = results.pop('mixed_data_list')
        if len(mixed) != self.num_aux_image:
            raise ValueError(f'YOLOv5Mosaic needs {self.num_aux_image} extra '
                             f'images, got {len(mixed)}')
        return self.mosaic([results, *mixed], self.get_center())

    def resize_tile(self, img: np.ndarray) -> np.ndarray:
        """The originals' ``load_image`` with ``augment=True``."""
        h0, w0 = img.shape[:2]
        r = self.img_scale / max(h0, w0)
        if r != 1:
            img = cv2.resize(img, (int(w0 * r), int(h0 * r)),
                             interpolation=cv2.INTER_LINEAR)
        return img

    def mosaic(self, items: Sequence[Dict], center: Tuple[int, int]) -> Dict:
        """The mosaic of four results dicts around a given centre.

        Args:
            items (Sequence[dict]): Four results (top-left, top-right,
                bottom-left, bottom-right), each with ``img`` as loaded.
            center (Tuple[int, int]): ``(xc, yc)`` in canvas pixels.

        Returns:
            dict: ``items[0]`` updated with the canvas and the moved
            annotations of all four.
        """
        if len(items) != 4:
            raise ValueError(f'mosaic needs 4 images, got {len(items)}')
        s = self.img_scale
        xc, yc = (int(c) for c in center)
        results = items[0]
        parts: Dict[str, list] = {k: [] for k in INSTANCE_KEYS}
        canvas = None
        for i, item in enumerate(items):
            img0 = item.get('img')
            if not isinstance(img0, np.ndarray) or img0.ndim != 3 \
                    or img0.size == 0:
                raise ValueError('YOLOv5Mosaic needs each "img" as a '
                                 'non-empty (h, w, c) array, got '
                                 f'{getattr(img0, "shape", type(img0))}')
            img = self.resize_tile(img0)
            (h0, w0), (h, w) = img0.shape[:2], img.shape[:2]
            if canvas is None:
                canvas = np.full((2 * s, 2 * s, img.shape[2]), self.pad_val,
                                 dtype=img.dtype)
            if i == 0:  # top left
                x1a, y1a, x2a, y2a = max(xc - w, 0), max(yc - h, 0), xc, yc
                x1b, y1b, x2b, y2b = w - (x2a - x1a), h - (y2a - y1a), w, h
            elif i == 1:  # top right
                x1a, y1a, x2a, y2a = xc, max(yc - h, 0), min(xc + w, 2 * s), yc
                x1b, y1b, x2b, y2b = 0, h - (y2a - y1a), min(w, x2a - x1a), h
            elif i == 2:  # bottom left
                x1a, y1a, x2a, y2a = max(xc - w, 0), yc, xc, min(2 * s, yc + h)
                x1b, y1b, x2b, y2b = w - (x2a - x1a), 0, w, min(y2a - y1a, h)
            else:  # bottom right
                x1a, y1a, x2a, y2a = xc, yc, min(xc + w, 2 * s), min(
                    2 * s, yc + h)
                x1b, y1b, x2b, y2b = 0, 0, min(w, x2a - x1a), min(y2a - y1a, h)
            canvas[y1a:y2a, x1a:x2a] = img[y1b:y2b, x1b:x2b]
            pad = np.array([x1a - x1b, y1a - y1b], dtype=np.float64)
            gain = np.array([w / w0, h / h0], dtype=np.float64)

            n = num_instances(item)
            for key in INSTANCE_KEYS:
                if key not in item or item[key] is None:
                    parts[key].append(None)
                    continue
                value = item[key]
                if key in POINT_KEYS:
                    arr = np.asarray(value, dtype=np.float64)
                    if arr.shape[-1] % 2:
                        raise ValueError(f'results["{key}"] must end with '
                                         f'x, y pairs, got {arr.shape}')
                    xy = arr.reshape(-1, 2) * gain + pad
                    value = xy.reshape(arr.shape).astype(np.float32)
                elif key == 'area':
                    value = (np.asarray(value, dtype=np.float64) *
                             gain[0] * gain[1]).astype(np.float32)
                elif isinstance(value, np.ndarray):
                    value = value.copy()
                else:
                    value = list(value)
                if len(value) != n:
                    raise ValueError(
                        f'results["{key}"] has {len(value)} entries but the '
                        f'image has {n} instances ({item.get("img_path")})')
                parts[key].append(value)

        for key, values in parts.items():
            present = [v for v in values if v is not None]
            if not present:
                continue
            if len(present) != len(values):
                raise ValueError(f'"{key}" is in some of the mosaic images '
                                 'but not in all of them')
            if isinstance(present[0], np.ndarray):
                results[key] = np.concatenate(present, axis=0)
            else:
                results[key] = [v for part in present for v in part]

        lim = 2.0 * s
        if 'bbox' in results:
            results['bbox'] = np.clip(results['bbox'], 0, lim)
        if 'keypoints' in results:
            kpts = results['keypoints']
            if self.outside == 'clip':
                results['keypoints'] = np.clip(kpts, 0, lim)
            elif 'keypoints_visible' in results:
                out = ((kpts < 0) | (kpts > lim)).any(-1)
                vis = results['keypoints_visible'].copy()
                vis[out] = 0
                results['keypoints_visible'] = vis
        results['img'] = canvas
        results['img_shape'] = canvas.shape[:2]
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(img_scale={self.img_scale}, '
                f'center_range={self.center_range}, pad_val={self.pad_val}, '
                f'outside={self.outside!r}, prob={self.prob})')
