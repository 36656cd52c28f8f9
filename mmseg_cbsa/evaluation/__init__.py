from .zero_shot import (ZeroShotCLSMetric, image_scores, jaccard, mass_share_mask,
                        target_masks, upsample_mask)

__all__ = ['ZeroShotCLSMetric', 'image_scores', 'jaccard', 'mass_share_mask', 'target_masks',
           'upsample_mask']
