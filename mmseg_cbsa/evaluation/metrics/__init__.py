from .zero_shot_metric import (TARGETS, ZeroShotCLSMetric, image_scores, jaccard, mass_share_mask,
                               target_masks, upsample_mask)

__all__ = [
    'TARGETS', 'ZeroShotCLSMetric', 'image_scores', 'jaccard', 'mass_share_mask', 'target_masks',
    'upsample_mask'
]
