"""Every picture the package draws: segmentation overlays, attention maps,
and the plots of the analysis tools."""
from .attention import (COLOUR_BAR_W, GRID_HEADER_H, GRID_LABEL_W, GRID_PAD, GRID_TITLE_H,
                        MAX_TILES, append_colour_bar, attention_overlay, cbsa_extraction_figure,
                        cls_attention_grid, colour_bar, colour_bar_width, distinct_representatives,
                        extraction_tile, fit_size, heatmap, label_grid, upsample_map)
from .overlay import (append_legend, draw_segmentation, input_prediction_truth, overlay_with_legend,
                      present_classes, standalone_visualizer)
from .plots import (plot_coding_rate, plot_latency, plot_noise_robustness,
                    plot_synthetic_compression, plot_zero_shot_layers)

__all__ = [
    'COLOUR_BAR_W', 'GRID_HEADER_H', 'GRID_LABEL_W', 'GRID_PAD', 'GRID_TITLE_H', 'MAX_TILES',
    'append_colour_bar', 'append_legend', 'attention_overlay', 'cbsa_extraction_figure',
    'cls_attention_grid', 'colour_bar', 'colour_bar_width', 'distinct_representatives',
    'draw_segmentation', 'extraction_tile', 'fit_size', 'heatmap', 'input_prediction_truth',
    'label_grid', 'overlay_with_legend', 'plot_coding_rate', 'plot_latency',
    'plot_noise_robustness', 'plot_synthetic_compression', 'plot_zero_shot_layers',
    'present_classes', 'standalone_visualizer', 'upsample_map'
]
