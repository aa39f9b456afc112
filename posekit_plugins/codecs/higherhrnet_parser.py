"""The test-time decoding of HigherHRNet / SWAHR bottom-up models, as the
authors' code does it (greatlog/SWAHR-HumanPose ``tools/dist_valid.py`` at
one scale): flip test, averaging of the resolutions, projection of the maps
to the input image, heatmap NMS, top-k candidates, grouping by tags with
Munkres, quarter-pixel adjustment and refinement of missing keypoints.

Written from reading and running the original (not copied from it). The
tests compare it with data the original produced
(``tests/data/swahr/orig_test.*``, made by ``tools/make_swahr_fixtures.py``).
"""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.structures import InstanceData
from mmpose.codecs.associative_embedding import _py_max_match
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.codecs.utils import batch_heatmap_nms
from mmpose.registry import KEYPOINT_CODECS
from torch import Tensor

# COCO: the original's HeatmapParser groups in this order (head, shoulders,
# hips, then the limbs)
COCO_JOINT_ORDER = (0, 1, 2, 3, 4, 5, 6, 11, 12, 7, 8, 9, 10, 13, 14, 15, 16)


def _resize(x: Tensor, size) -> Tensor:
    return F.interpolate(x, size=tuple(size), mode='bilinear',
                         align_corners=False)


def shift_x(x: Tensor, d: float) -> Tensor:
    """Move (..., W) maps by ``d`` pixels along x (positive: right), linear
    interpolation, border values repeated."""
    W = x.shape[-1]
    src = (torch.arange(W, device=x.device, dtype=x.dtype) - d).clamp(0, W - 1)
    x0 = src.floor().long()
    x1 = (x0 + 1).clamp(max=W - 1)
    w = src - x0.to(x.dtype)
    return x[..., x0] * (1 - w) + x[..., x1] * w


@KEYPOINT_CODECS.register_module()
class HigherHRNetParser(BaseKeypointCodec):
    """Decode the raw outputs of a HigherHRNet(+SWAHR) model as the original
    test code does.

    Input layout (the original model's): one tensor per resolution, lowest
    first (1/4, then 1/2 of the input); at resolution ``i`` the channels are
    ``num_scale_channels`` SWAHR scale maps (``num_keypoints`` for SWAHR, 0
    for plain HigherHRNet; never read), then ``num_keypoints`` heatmaps if
    ``loss_with_heatmaps[i]``, then the tags (``num_keypoints`` channels with
    ``tag_per_joint``, else 1) if ``loss_with_ae[i]``. ``with_heatmaps`` /
    ``with_ae`` choose which of those are used at test time (the original's
    ``TEST.WITH_HEATMAPS`` / ``TEST.WITH_AE``).

    Steps (``decode_batch``), each as the original:

    1. every resolution but the last is upsampled (bilinear,
       ``align_corners=False``) to the last; the heatmaps of the used
       resolutions are averaged; the flipped batch's maps are flipped back
       along x and their channels (heatmaps, and tags if ``tag_per_joint``)
       permuted by ``flip_indices``;
    2. ``project2image``: plain and flipped heatmaps and tags are upsampled
       to the input size (``2x`` the last resolution unless ``input_size`` is
       given), then heatmaps = (plain + flipped) / 2 and the tags of plain
       and flipped stacked as the tag vector (B, K, H, W, L);
    3. NMS (max-pool ``nms_kernel``/``nms_padding``; mmpose's
       ``batch_heatmap_nms`` when the padding is ``(kernel - 1) // 2``),
       top ``max_num_people`` candidates per keypoint;
    4. grouping in ``joint_order`` by tag distance with Munkres (mmpose's
       ``_py_max_match``, the same call as the original). mmpose's
       ``_group_keypoints_by_tags`` differs: it matches against all groups,
       while the original matches against the first ``max_num_people``
       groups only (and keeps all groups in the result); so the loop is
       ours;
    5. ``adjust``: +-0.25 px towards the larger neighbour (strictly larger,
       else minus; neighbours clamped at the border) and +0.5 px; mmpose's
       ``refine_keypoints`` leaves ties and border pixels unshifted and adds
       no 0.5, so this is ours (vectorised over people and keypoints);
    6. person score = mean keypoint value after adjust, before refine;
    7. ``refine``: each keypoint a person lacks is taken at the argmax of
       ``heatmap - round(||tag - person's mean tag||)`` if its value there
       is positive (with the same quarter-pixel shift).

    ``flip_shift`` (one value per resolution, in that resolution's pixels;
    None = the original) moves the flipped-back maps right before step 1.
    The original flips training labels at each output resolution (``x ->
    S - 1 - x``), which the plain pixel flip-back undoes exactly: released
    checkpoints need no shift. Models trained here flip in input pixels
    (mmpose's ``x -> w - 1 - x``), so their flipped-back maps sit ``1 -
    1 / stride`` pixels left of the plain ones: ``flip_shift=(0.75, 0.5)``
    for strides 4 and 2 (without it the flip-averaged keypoints are biased
    by about -1.5 / -0.5 input px).

    Keypoints come out in input-image pixels (the maps are at input
    resolution after step 2; the original's ``get_final_preds`` then maps
    them to the original image with the affine of center/scale, which is
    what mmpose's ``BottomupPoseEstimator`` does with ``input_center`` /
    ``input_scale``; see :meth:`to_original`). ``keypoint_scores`` are the
    heatmap values (0 where a keypoint stays missing).

    Encoding is not provided (training targets come from the training
    codec).
    """

    def __init__(self,
                 num_keypoints: int = 17,
                 flip_indices: Optional[Sequence[int]] = None,
                 num_scale_channels: Optional[int] = None,
                 loss_with_heatmaps: Sequence[bool] = (True, True),
                 loss_with_ae: Sequence[bool] = (True, False),
                 with_heatmaps: Sequence[bool] = (True, True),
                 with_ae: Sequence[bool] = (True, False),
                 tag_per_joint: bool = True,
                 project2image: bool = True,
                 max_num_people: int = 30,
                 detection_threshold: float = 0.12,
                 tag_threshold: float = 1.0,
                 use_detection_val: bool = True,
                 ignore_too_much: bool = False,
                 nms_kernel: int = 5,
                 nms_padding: int = 2,
                 adjust: bool = True,
                 refine: bool = True,
                 joint_order: Optional[Sequence[int]] = None,
                 flip_shift: Optional[Sequence[float]] = None):
        super().__init__()
        self.flip_shift = None if flip_shift is None else [
            float(v) for v in flip_shift]
        K = num_keypoints
        self.num_keypoints = K
        self.flip_indices = None if flip_indices is None else list(
            flip_indices)
        self.num_scale_channels = K if num_scale_channels is None \
            else num_scale_channels
        self.loss_with_heatmaps = list(loss_with_heatmaps)
        self.loss_with_ae = list(loss_with_ae)
        self.with_heatmaps = list(with_heatmaps)
        self.with_ae = list(with_ae)
        self.tag_per_joint = tag_per_joint
        self.project2image = project2image
        self.max_num_people = max_num_people
        self.detection_threshold = detection_threshold
        self.tag_threshold = tag_threshold
        self.use_detection_val = use_detection_val
        self.ignore_too_much = ignore_too_much
        self.nms_kernel = nms_kernel
        self.nms_padding = nms_padding
        self.adjust = adjust
        self.refine = refine
        if joint_order is None:
            joint_order = COCO_JOINT_ORDER if K == 17 else range(K)
        self.joint_order = list(joint_order)
        assert sorted(self.joint_order) == list(range(K)), \
            'joint_order must be a permutation of the keypoints'

    def encode(self, *args, **kwargs):
        raise NotImplementedError(
            'HigherHRNetParser only decodes (the original test path); '
            'build training targets with a training codec such as '
            'AssociativeEmbeddingDARK')

    # ------------------------------------------------------------------
    # step 1-2: flip back, average, project

    def _split(self, outputs: Sequence[Tensor], flipped: bool,
               flip_indices):
        K = self.num_keypoints
        last = outputs[-1].shape[2:]
        hm_sum, n, tags = 0, 0, []
        for i, out in enumerate(outputs):
            out = out[:, self.num_scale_channels:]
            if flipped and self.flip_shift is not None:
                # flip back and shift at the native resolution, then resize
                out = shift_x(torch.flip(out, [3]), self.flip_shift[i])
                if len(outputs) > 1 and i != len(outputs) - 1:
                    out = _resize(out, last)
            else:
                if len(outputs) > 1 and i != len(outputs) - 1:
                    out = _resize(out, last)
                if flipped:
                    out = torch.flip(out, [3])
            offset = K if self.loss_with_heatmaps[i] else 0
            if self.loss_with_heatmaps[i] and self.with_heatmaps[i]:
                hm = out[:, :K]
                if flipped:
                    hm = hm[:, flip_indices]
                hm_sum = hm_sum + hm
                n += 1
            if self.loss_with_ae[i] and self.with_ae[i]:
                tag = out[:, offset:]
                if flipped and self.tag_per_joint:
                    tag = tag[:, flip_indices]
                tags.append(tag)
        if n == 0:
            raise ValueError('no resolution gives heatmaps (with_heatmaps)')
        if not tags:
            raise ValueError('no resolution gives tags (with_ae)')
        return hm_sum / n, tags

    def aggregate(self,
                  outputs: Sequence[Tensor],
                  flipped_outputs: Optional[Sequence[Tensor]] = None,
                  flip_indices: Optional[Sequence[int]] = None,
                  input_size: Optional[Sequence[int]] = None):
        """Heatmaps (B, K, H, W) and tags (B, K, H, W, L) as the original's
        ``get_multi_stage_outputs`` + ``aggregate_results`` at one scale.

        ``input_size`` is (w, h) of the model input (default: twice the last
        resolution, HigherHRNet's stride 2).
        """
        outputs = [torch.as_tensor(o) for o in outputs]
        for o in outputs:
            if not torch.isfinite(o).all():
                raise ValueError(
                    'HigherHRNetParser: the model outputs contain NaN or '
                    'Inf; cannot decode')
        heatmaps, tags = [], []
        hm, tg = self._split(outputs, False, None)
        heatmaps.append(hm)
        tags += tg
        if flipped_outputs is not None:
            flip_indices = self._flip_indices(flip_indices)
            flipped_outputs = [torch.as_tensor(o) for o in flipped_outputs]
            for o in flipped_outputs:
                if not torch.isfinite(o).all():
                    raise ValueError(
                        'HigherHRNetParser: the flipped model outputs '
                        'contain NaN or Inf; cannot decode')
            hm, tg = self._split(flipped_outputs, True, flip_indices)
            heatmaps.append(hm)
            tags += tg
        if self.project2image:
            if input_size is None:
                h, w = outputs[-1].shape[2:]
                input_size = (2 * w, 2 * h)
            size = (int(input_size[1]), int(input_size[0]))
            heatmaps = [_resize(h_, size) for h_ in heatmaps]
            tags = [_resize(t, size) for t in tags]
        else:
            size = heatmaps[0].shape[2:]
            tags = [_resize(t, size) for t in tags]
        if len(heatmaps) == 2:
            heatmaps = (heatmaps[0] + heatmaps[1]) / 2.0
        else:
            heatmaps = heatmaps[0]
        tags = torch.cat([t.unsqueeze(4) for t in tags], dim=4)
        return heatmaps, tags

    def _flip_indices(self, flip_indices):
        flip_indices = flip_indices if flip_indices is not None \
            else self.flip_indices
        if flip_indices is None:
            raise ValueError(
                'HigherHRNetParser: flip test needs flip_indices (give them '
                'at construction or in the data samples\' metainfo)')
        return list(flip_indices)

    # ------------------------------------------------------------------
    # step 3-7: NMS, top-k, grouping, adjust, refine

    def top_k(self, heatmaps: Tensor, tags: Tensor) -> Dict[str, np.ndarray]:
        """NMS and the top ``max_num_people`` candidates per keypoint:
        ``val_k`` (B, K, M), ``loc_k`` (B, K, M, 2) as (x, y), ``tag_k``
        (B, K, M, L)."""
        if self.nms_padding == (self.nms_kernel - 1) // 2:
            det = batch_heatmap_nms(heatmaps, self.nms_kernel)
        else:
            maxm = F.max_pool2d(heatmaps, self.nms_kernel, 1,
                                self.nms_padding)
            det = heatmaps * torch.eq(maxm, heatmaps).float()
        B, K, H, W = det.shape
        val_k, ind = det.view(B, K, -1).topk(self.max_num_people, dim=2)
        tag = tags.reshape(tags.size(0), tags.size(1), H * W, -1)
        if not self.tag_per_joint:
            tag = tag.expand(-1, K, -1, -1)
        tag_k = torch.gather(
            tag, 2, ind[..., None].expand(-1, -1, -1, tag.size(3)))
        loc_k = torch.stack((ind % W, ind // W), dim=3)
        return dict(val_k=val_k.cpu().numpy(), loc_k=loc_k.cpu().numpy(),
                    tag_k=tag_k.cpu().numpy())

    def match(self, tag_k: np.ndarray, loc_k: np.ndarray,
              val_k: np.ndarray) -> np.ndarray:
        """Group one image's candidates: (N, K, 3 + L) float32 rows of
        (x, y, val, tag...), as the original's ``match_by_tag``."""
        K = self.num_keypoints
        L = tag_k.shape[2]
        empty = np.zeros((K, 3 + L))
        people, person_tags = {}, {}
        for n, k in enumerate(self.joint_order):
            joints = np.concatenate((loc_k[k], val_k[k, :, None], tag_k[k]),
                                    1)
            keep = joints[:, 2] > self.detection_threshold
            joints, tags = joints[keep], tag_k[k][keep]
            if len(joints) == 0:
                continue
            if n == 0 or not people:
                for tag, joint in zip(tags, joints):
                    people.setdefault(tag[0], empty.copy())[k] = joint
                    person_tags[tag[0]] = [tag]
                continue
            keys = list(people)[:self.max_num_people]
            if self.ignore_too_much and len(keys) == self.max_num_people:
                continue
            mean_tags = np.array(
                [np.mean(person_tags[key], axis=0) for key in keys])
            dist = np.linalg.norm(
                joints[:, None, 3:] - mean_tags[None], ord=2, axis=2)
            cost = dist
            if self.use_detection_val:
                cost = np.round(dist) * 100 - joints[:, 2:3]
            n_new, n_old = dist.shape
            if n_new > n_old:
                cost = np.concatenate(
                    (cost, np.zeros((n_new, n_new - n_old)) + 1e10), axis=1)
            for row, col in _py_max_match(cost):
                if row < n_new and col < n_old \
                        and dist[row][col] < self.tag_threshold:
                    people[keys[col]][k] = joints[row]
                    person_tags[keys[col]].append(tags[row])
                else:
                    key = tags[row][0]
                    people.setdefault(key, empty.copy())[k] = joints[row]
                    person_tags[key] = [tags[row]]
        if not people:
            return np.zeros((0, K, 3 + L), np.float32)
        return np.array(list(people.values())).astype(np.float32)

    @staticmethod
    def _quarter(det: np.ndarray, k, y, x):
        """+-0.25 along x and y towards the strictly larger neighbour
        (clamped at the border), for arrays of keypoint ids and integer
        positions; det is (K, H, W)."""
        H, W = det.shape[1:]
        right = det[k, y, np.minimum(x + 1, W - 1)]
        left = det[k, y, np.maximum(x - 1, 0)]
        down = det[k, np.minimum(y + 1, H - 1), x]
        up = det[k, np.maximum(y - 1, 0), x]
        return np.where(right > left, 0.25, -0.25), \
            np.where(down > up, 0.25, -0.25)

    def adjust_people(self, people: np.ndarray, det: np.ndarray):
        """The original's ``adjust`` on (N, K, 3 + L) float32, in place."""
        if len(people) == 0:
            return people
        p, k = np.nonzero(people[:, :, 2] > 0)
        x, y = people[p, k, 0], people[p, k, 1]
        xi, yi = x.astype(np.int64), y.astype(np.int64)
        dx, dy = self._quarter(det, k, yi, xi)
        people[p, k, 0] = x + dx + 0.5
        people[p, k, 1] = y + dy + 0.5
        return people

    def refine_person(self, det: np.ndarray, tag: np.ndarray,
                      person: np.ndarray) -> np.ndarray:
        """The original's ``refine`` for one person (K, 3 + L), in place:
        only the keypoints it lacks are searched (the original computes all
        and keeps only those)."""
        found = person[:, 2] > 0
        xy = person[found, :2].astype(np.int32)
        ks = np.nonzero(found)[0]
        prev_tag = np.mean([tag[k, y, x] for k, (x, y) in zip(ks, xy)],
                           axis=0)
        missing = np.nonzero(person[:, 2] == 0)[0]
        if len(missing) == 0:
            return person
        H, W = det.shape[1:]
        dist = ((tag[missing] - prev_tag[None, None, None, :])**2).sum(
            axis=3)**0.5
        score = det[missing] - np.round(dist)
        flat = score.reshape(len(missing), -1).argmax(axis=1)
        y, x = np.unravel_index(flat, (H, W))
        val = det[missing, y, x]
        dx, dy = self._quarter(det, missing, y, x)
        new = val > 0
        m = missing[new]
        person[m, 0] = (x + 0.5 + dx)[new]
        person[m, 1] = (y + 0.5 + dy)[new]
        person[m, 2] = val[new]
        return person

    def parse(self, heatmaps: Tensor, tags: Tensor) -> List[dict]:
        """Group the aggregated maps of each image. Returns per image a dict
        with ``people`` (N, K, 3 + L) float32 rows (x, y, val, tag...) in
        map pixels and ``scores`` (N,) float32."""
        cand = self.top_k(heatmaps, tags)
        det_all = heatmaps.detach().cpu().numpy()
        tag_all = None
        results = []
        for b in range(heatmaps.size(0)):
            people = self.match(cand['tag_k'][b], cand['loc_k'][b],
                                cand['val_k'][b])
            det = det_all[b]
            if self.adjust:
                people = self.adjust_people(people, det)
            scores = np.array([p[:, 2].mean() for p in people],
                              dtype=np.float32)
            if self.refine and len(people):
                if tag_all is None:
                    tag_all = tags.detach().cpu().numpy()
                tag = tag_all[b]
                if not self.tag_per_joint:
                    tag = np.tile(tag, (self.num_keypoints, 1, 1, 1))
                for p in people:
                    self.refine_person(det, tag, p)
            results.append(dict(people=people, scores=scores))
        return results

    # ------------------------------------------------------------------
    # entry points

    def decode(self, outputs, flipped_outputs=None, flip_indices=None,
               input_size=None):
        """One image: ``outputs`` (and ``flipped_outputs``) are lists of
        (C, H, W) maps. Returns keypoints (N, K, 2) in input pixels,
        keypoint_scores (N, K) and scores (N,)."""
        outputs = [torch.as_tensor(o)[None] for o in outputs]
        if flipped_outputs is not None:
            flipped_outputs = [
                torch.as_tensor(o)[None] for o in flipped_outputs
            ]
        heatmaps, tags = self.aggregate(outputs, flipped_outputs,
                                        flip_indices, input_size)
        res = self.parse(heatmaps, tags)[0]
        return (res['people'][..., :2], res['people'][..., 2],
                res['scores'])

    def decode_batch(self, outputs_list: Sequence[Tensor],
                     flipped_outputs_list: Optional[Sequence[Tensor]] = None,
                     batch_data_samples: Optional[Sequence] = None,
                     input_size: Optional[Sequence[int]] = None
                     ) -> List[InstanceData]:
        """Decode a batch (the head's ``predict`` calls this).

        Args:
            outputs_list: the model's outputs per resolution, (B, C_i, H_i,
                W_i), the original's channel order.
            flipped_outputs_list: the same for the horizontally flipped
                batch (not flipped back), or None (no flip test).
            batch_data_samples: used for ``flip_indices`` (metainfo) when
                not given at construction, and for ``input_size`` (w, h)
                of the model input when PROJECT2IMAGE (default: twice the
                last resolution).

        Returns:
            One ``InstanceData`` per image: ``keypoints`` (N, K, 2) in model
            input pixels (the estimator maps them to the image with
            ``input_center`` / ``input_scale``), ``keypoint_scores`` (N, K),
            ``scores`` and ``bbox_scores`` (N,), ``keypoints_visible``
            (N, K) = keypoint_scores.
        """
        flip_indices = self.flip_indices
        if batch_data_samples:
            meta = batch_data_samples[0].metainfo
            if flip_indices is None and 'flip_indices' in meta:
                flip_indices = meta['flip_indices']
            if input_size is None and 'input_size' in meta:
                input_size = meta['input_size']
        with torch.no_grad():
            heatmaps, tags = self.aggregate(outputs_list, flipped_outputs_list,
                                            flip_indices, input_size)
            results = self.parse(heatmaps, tags)
        preds = []
        for res in results:
            people = res['people']
            inst = InstanceData()
            inst.keypoints = people[..., :2].copy()
            inst.keypoint_scores = people[..., 2].copy()
            inst.keypoints_visible = inst.keypoint_scores
            inst.scores = res['scores']
            inst.bbox_scores = res['scores']
            preds.append(inst)
        return preds

    @staticmethod
    def to_original(keypoints: np.ndarray, center, scale,
                    input_size) -> np.ndarray:
        """Input pixels -> original image, as the original's
        ``get_final_preds`` (``scale`` in units of 200 px as the original's
        ``resize_align_multi_scale`` returns it; ``input_size`` (w, h)).
        The same map as mmpose's ``BottomupPoseEstimator`` with
        ``input_center = center`` and ``input_scale = 200 * scale``."""
        center = np.asarray(center, np.float64)
        scale = np.asarray(scale, np.float64) * 200.0
        f = scale[0] / float(input_size[0])
        out = np.asarray(keypoints, np.float64).copy()
        out[..., 0] = (out[..., 0] - input_size[0] * 0.5) * f + center[0]
        out[..., 1] = (out[..., 1] - input_size[1] * 0.5) * f + center[1]
        return out
