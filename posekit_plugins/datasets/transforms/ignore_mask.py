"""Ignore mask of crowd / unlabelled people for bottom-up heatmap training."""
from typing import List, Tuple

import numpy as np
import xtcocotools.mask as cocomask
from mmpose.datasets.transforms import BottomupGetHeatmapMask
from mmpose.registry import TRANSFORMS


@TRANSFORMS.register_module()
class BottomupGetIgnoreMask(BottomupGetHeatmapMask):
    """``heatmap_mask``: 1 where the heatmap loss applies, 0 on people that
    are not annotated with keypoints (crowd regions, persons with no
    keypoint), as HigherHRNet / SWAHR train (`SWAHR`_).

    The regions are the ``invalid_segs`` that mmpose's bottom-up COCO dataset
    collects (crowd, no keypoints, empty box). mmpose's
    ``BottomupGetHeatmapMask`` decodes only polygon segmentations and skips
    run-length encoded ones, which is how COCO stores every crowd region
    (``iscrowd=1``): the crowds would be trained as background. This
    transform decodes polygons and RLEs (uncompressed ``counts`` lists and
    compressed strings) and then, like the parent, warps the mask with
    ``warp_mat`` to the input, flips it with the image and resizes it to the
    heatmaps (a list of heatmaps gives a list of masks).

    Note:
        Place it after ``GenerateTarget`` (it reads the heatmap size) and
        after the geometric transforms (``BottomupRandomAffine``,
        ``RandomFlip``). The packed ``gt_fields.heatmap_mask`` is (1, H, W).

    Required keys: ``img_shape``, ``input_size``, ``invalid_segs``
    (optional), ``warp_mat`` (optional), ``flip``/``flip_direction``
    (optional), ``heatmaps`` (optional). Added key: ``heatmap_mask``.

    .. _`SWAHR`: https://arxiv.org/abs/2012.15175
    """

    def _segs_to_mask(self, segs: List, img_shape: Tuple[int,
                                                         int]) -> np.ndarray:
        """Union of the segmentations in image space: uint8 (h, w), 1 on the
        listed regions."""
        h, w = int(img_shape[0]), int(img_shape[1])
        rles = []
        for seg in segs:
            if seg is None:
                # no outline given (CrowdPose-style annotations have none):
                # the person cannot be masked
                continue
            if isinstance(seg, dict):
                if 'counts' not in seg or 'size' not in seg:
                    raise ValueError(
                        f'RLE segmentation needs counts and size, got {seg}')
                if tuple(seg['size']) != (h, w):
                    raise ValueError(
                        f'RLE of size {seg["size"]} for an image of shape '
                        f'{(h, w)}')
                if isinstance(seg['counts'], list):  # uncompressed
                    rles.append(cocomask.frPyObjects(seg, h, w))
                else:
                    rles.append(seg)
            elif isinstance(seg, (list, tuple)):
                polys = [p for p in seg if len(p) >= 6]
                if polys:
                    rles.extend(cocomask.frPyObjects(polys, h, w))
            else:
                raise TypeError(
                    f'unsupported segmentation type {type(seg).__name__}')
        if not rles:
            return np.zeros((h, w), dtype=np.uint8)
        return cocomask.decode(cocomask.merge(rles)).astype(np.uint8)
