"""Zero-shot segmentation scores of [CLS] attention maps (paper appendix C).

Per image and layer: each head's [CLS]-to-patch map is turned into a mask of
the patches holding a share (default 60%) of its attention mass, the mask is
upsampled to pixels, and its Jaccard index is taken against three targets of
a Pascal VOC label map: foreground (labels 1-20), background (0) and the
void boundary band (255). For each image and target the best head counts;
scores are averaged over images.

The masks are scored at the label map's own size, as mmseg scores
predictions: the test pipeline resizes the image (480 px on its long side),
not the label map, so a mask over the network input is resized (nearest) to
the label's size first.
"""
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from torch import Tensor

from ...registry import METRICS

TARGETS = ('foreground', 'background', 'boundary')


def mass_share_mask(maps: Tensor, share: float = 0.6) -> Tensor:
    """Keep, per head, the highest patches that together hold ``share`` of the mass.

    Patches are sorted by attention; a patch is kept when the mass of all
    patches at or below it exceeds ``1 - share`` (so the patch that crosses the
    threshold is kept, as in DINO's visualisation).

    Args:
        maps: (K, h, w) non-negative attention of K heads.
    Returns:
        (K, h, w) bool masks.
    """
    k, h, w = maps.shape
    flat = maps.reshape(k, -1).clamp_min(0)
    val, idx = torch.sort(flat, dim=1)
    cum = torch.cumsum(val, dim=1) / flat.sum(1, keepdim=True).clamp_min(1e-12)
    keep = torch.zeros_like(flat, dtype=torch.bool)
    keep.scatter_(1, idx, cum > 1 - share)
    return keep.reshape(k, h, w)


def upsample_mask(mask: Tensor, patch_size: int, size: Sequence[int]) -> Tensor:
    """(K, h, w) patch masks -> (K, H, W) pixel masks (each patch covers
    ``patch_size`` pixels; the bottom/right padding of the input is cropped)."""
    up = mask.repeat_interleave(patch_size, 1).repeat_interleave(patch_size, 2)
    return up[:, :size[0], :size[1]]


def target_masks(label: Tensor) -> Dict[str, Tensor]:
    """Foreground (1-20), background (0) and boundary (255) of a VOC label map."""
    return dict(
        foreground=(label >= 1) & (label <= 20), background=label == 0, boundary=label == 255)


def jaccard(masks: Tensor, target: Tensor) -> Tensor:
    """(K, H, W) masks vs an (H, W) target -> (K,) Jaccard indices (NaN when
    both are empty)."""
    inter = (masks & target).flatten(1).sum(1).double()
    union = (masks | target).flatten(1).sum(1).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.nan)


def image_scores(maps: Tensor,
                 label: Tensor,
                 patch_size: int,
                 share: float = 0.6,
                 image_size: Optional[Sequence[int]] = None) -> Dict[str, float]:
    """Best-head Jaccard per target for one image and layer (NaN where the
    image has no pixel of that target).

    Args:
        maps: (K, h, w) [CLS]-to-patch attention of the K heads.
        label: (H, W) VOC label map.
        patch_size: pixels per patch.
        share: attention mass kept per head.
        image_size: (H', W') of the network input the patches cover (after
            the pipeline's resize, before padding); the label's size if None.
            Masks are resized (nearest) from it to the label's size.
    """
    image_size = tuple(image_size or label.shape)
    masks = upsample_mask(mass_share_mask(maps, share), patch_size, image_size)
    if image_size != tuple(label.shape):
        masks = F.interpolate(masks[None].float(), size=tuple(label.shape), mode='nearest')[0] > 0
    scores = {}
    for name, target in target_masks(label).items():
        scores[name] = float(jaccard(masks, target).max()) if target.any() else float('nan')
    return scores


@METRICS.register_module()
class ZeroShotCLSMetric(BaseMetric):
    """mmengine metric over [CLS] attention maps.

    Each data sample carries ``cls_attn`` (dict layer -> (K, h, w) tensor),
    ``gt_sem_seg`` and, where the pipeline resized the image, ``img_shape``.
    Reports ``<target>/layer<l>`` for every layer and ``<target>/best`` (the
    best layer's average).

    Args:
        patch_size: pixels per patch of the encoder.
        share: attention mass kept per head.
    """

    default_prefix = 'zero_shot'

    def __init__(self,
                 patch_size: int = 16,
                 share: float = 0.6,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not 0 < share < 1:
            raise ValueError(f'share must lie in (0, 1), got {share}')
        self.patch_size = patch_size
        self.share = share

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            label = sample['gt_sem_seg']['data'].squeeze(0).cpu()
            self.results.append({
                layer:
                image_scores(maps.cpu(), label, self.patch_size, self.share,
                             sample.get('img_shape'))
                for layer, maps in sample['cls_attn'].items()
            })

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        per_layer = defaultdict(lambda: defaultdict(list))
        for result in results:
            for layer, scores in result.items():
                for target, value in scores.items():
                    per_layer[layer][target].append(value)
        metrics = {}
        for target in TARGETS:
            means = {layer: float(np.nanmean(v[target])) for layer, v in per_layer.items()}
            for layer, mean in sorted(means.items()):
                metrics[f'{target}/layer{layer + 1}'] = mean
            metrics[f'{target}/best'] = max(means.values())
        return metrics
