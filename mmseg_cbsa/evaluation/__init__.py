from .coding_rate import (CodingRateRecorder, coding_rate, compression_term, head_coding_rates,
                          normalized_compression_term, subspace_bases, summarize_layers)
from .zero_shot import (ZeroShotCLSMetric, image_scores, jaccard, mass_share_mask,
                        target_masks, upsample_mask)

__all__ = ['CodingRateRecorder', 'coding_rate', 'compression_term', 'head_coding_rates',
           'normalized_compression_term', 'subspace_bases', 'summarize_layers',
           'ZeroShotCLSMetric', 'image_scores', 'jaccard', 'mass_share_mask', 'target_masks',
           'upsample_mask']
