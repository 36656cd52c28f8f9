"""The paper's measurements of models: attention maps, coding rates (Figs.
4-6), the rank of the extraction matrix (Appendix A), noise robustness (Fig.
8), the synthetic compression (Fig. 4), zero-shot segmentation, complexity
and reduced-precision agreement; the report writing they share; and the runs
behind the measurement scripts in ``tools/``.

Model loading is :mod:`mmseg_cbsa.apis`; the demos and the benchmark harness
are applications (:mod:`mmseg_cbsa.apps`)."""
from .attention_maps import (AttentionRecorder, CBSAExtraction, extraction_centroids,
                             representative_cells)
from .coding_rate import (CodingRateRecorder, LayerCodingRate, LayerSubspaceRates,
                          SubspaceReductionRecorder, coding_rate, compression_term,
                          head_coding_rates, normalized_compression_term, subspace_bases,
                          subspace_correlation, summarize_layers, summarize_subspaces)
from .complexity import HeadCall, count_flops, count_similarities, flop_analyzer, report_complexity
from .extraction_hooks import ExtractionListener, LayerRecord, extracts_representatives
from .model_coding_rate import measure_coding_rate
from .perturbation import (attention_projection_weights, measure_noise_robustness, noise_sweep,
                           perturb_, restore_)
from .rep_rank import ExtractionRankRecorder, LayerRank, measure_rep_rank, summarize_ranks
from .report import markdown_table, write_csv, write_json
from .synthetic import (class_coding_rates, compress_per_class, linear_compression_step,
                        principal_share, run_synthetic_compression, synthetic_subspace_mixture)
from .zero_shot import evaluate_zero_shot

__all__ = [
    'AttentionRecorder', 'CBSAExtraction', 'CodingRateRecorder', 'ExtractionListener',
    'ExtractionRankRecorder', 'HeadCall', 'LayerCodingRate', 'LayerRank', 'LayerRecord',
    'LayerSubspaceRates', 'SubspaceReductionRecorder', 'attention_projection_weights',
    'class_coding_rates', 'coding_rate', 'compress_per_class', 'compression_term', 'count_flops',
    'count_similarities', 'evaluate_zero_shot', 'extraction_centroids', 'extracts_representatives',
    'flop_analyzer', 'head_coding_rates', 'linear_compression_step', 'markdown_table',
    'measure_coding_rate', 'measure_noise_robustness', 'measure_rep_rank', 'noise_sweep',
    'normalized_compression_term', 'perturb_', 'principal_share', 'report_complexity',
    'representative_cells', 'restore_', 'run_synthetic_compression', 'subspace_bases',
    'subspace_correlation', 'summarize_layers', 'summarize_ranks', 'summarize_subspaces',
    'synthetic_subspace_mixture', 'write_csv', 'write_json'
]
