"""Every picture the package draws: segmentation overlays, attention maps,
and the plots of the analysis tools."""
from .attention import (GRID_HEADER_H, GRID_LABEL_W, GRID_PAD, GRID_TITLE_H,
                        cbsa_extraction_figure, cls_attention_grid, fit_size, heatmap,
                        label_grid, upsample_map)
from .overlay import append_legend, draw_segmentation, overlay_with_legend, present_classes
from .plots import (plot_coding_rate, plot_latency, plot_noise_robustness,
                    plot_synthetic_compression, plot_zero_shot_layers)

__all__ = ['GRID_HEADER_H', 'GRID_LABEL_W', 'GRID_PAD', 'GRID_TITLE_H', 'append_legend',
           'cbsa_extraction_figure', 'cls_attention_grid', 'draw_segmentation', 'fit_size',
           'heatmap', 'label_grid', 'overlay_with_legend', 'plot_coding_rate', 'plot_latency',
           'plot_noise_robustness', 'plot_synthetic_compression', 'plot_zero_shot_layers',
           'present_classes', 'upsample_map']
