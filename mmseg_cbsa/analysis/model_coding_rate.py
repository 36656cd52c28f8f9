"""The coding rate of every attention layer of a config's model on image
files (paper Fig. 5): the measurement of ``tools/analysis_tools/coding_rate.py``.

The formulas and the recorder are in :mod:`mmseg_cbsa.analysis.coding_rate`;
this module only builds the model, feeds the images and writes the report.
"""
import os
import os.path as osp
from typing import Optional, Sequence

import torch
from mmengine.config import Config

from ..utils import collect_images
from ..visualization.plots import plot_coding_rate
from .coding_rate import CodingRateRecorder, summarize_layers
from .loading import build_model, image_pipeline
from .report import dict_rows, markdown_table, write_csv, write_json

#: the files :func:`measure_coding_rate` writes into its ``out_dir``
OUTPUTS = ('coding_rate.json', 'coding_rate.csv', 'coding_rate.png')
_CSV_COLUMNS = ['index', 'part', 'name', 'type', 'num_heads', 'head_dims', 'samples', 'Rc_mean',
                'Rc_std', 'Rc_normalized_mean', 'Rc_normalized_std']


def format_layer_table(layers: Sequence[dict]) -> str:
    """Markdown table of :func:`~mmseg_cbsa.analysis.coding_rate.summarize_layers`
    entries: one row per layer, ``Rc`` and normalised ``Rc`` as mean ± std."""
    rows = [[layer['index'], layer['part'], layer['name'], layer['type'],
             f"{layer['num_heads']} x {layer['head_dims']}",
             '/'.join(str(n) for n in layer['num_tokens']),
             f"{layer['Rc_mean']:.2f} ± {layer['Rc_std']:.2f}",
             f"{layer['Rc_normalized_mean']:.2f} ± {layer['Rc_normalized_std']:.2f}"]
            for layer in layers]
    return markdown_table(['#', 'part', 'layer', 'type', 'K x p', 'N', 'Rc', 'Rc (normalised)'],
                          rows)


def write_layer_csv(path: str, layers: Sequence[dict]) -> None:
    """One CSV row per layer: the scalar fields, then ``num_tokens``
    (space-separated token counts)."""
    write_csv(path, _CSV_COLUMNS + ['num_tokens'],
              [row + [' '.join(str(n) for n in layer['num_tokens'])]
               for row, layer in zip(dict_rows(layers, _CSV_COLUMNS), layers)])


def measure_coding_rate(config: str, images: Sequence[str], out_dir: str,
                        checkpoint: Optional[str] = None, eps: float = 0.5,
                        max_images: Optional[int] = None, device: str = 'cpu', seed: int = 0,
                        cfg_options: Optional[dict] = None) -> dict:
    """Coding rate of the tokens every attention layer of a model sees.

    Each image goes through the config's test pipeline
    (:func:`~mmseg_cbsa.analysis.loading.image_pipeline`) and data
    preprocessor, then one ``mode='tensor'`` forward pass (no sliding
    window, no test-time augmentation), during which a
    :class:`~mmseg_cbsa.analysis.coding_rate.CodingRateRecorder` measures
    every attention layer.

    Args:
        config: config file.
        images: image files and/or folders (sorted; at most ``max_images``).
        out_dir: created if needed; receives :data:`OUTPUTS`:
            ``coding_rate.json`` (the returned dict), ``coding_rate.csv``
            (one row per layer) and ``coding_rate.png`` (Rc against the layer).
        checkpoint: weights (see :func:`~mmseg_cbsa.analysis.loading.load_weights`);
            None measures the ``init_weights`` initialisation seeded by ``seed``.
        eps: precision ε.
        device: where the model runs.
        cfg_options: overrides merged into the config.

    Returns:
        ``config``, ``checkpoint``, ``weights`` (their source), ``random_init``,
        ``ignored_checkpoint_keys``, ``eps``, ``images`` and ``layers``
        (one summary per layer, in running order). Also prints the table.
    """
    images = collect_images(images, max_images)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    model, source, ignored = build_model(cfg, checkpoint, device, seed)
    print(f'weights: {source}')
    if ignored:
        print(f'ignored {len(ignored)} checkpoint tensors the model has no place for, '
              f'e.g. {ignored[:4]}')
    pipeline = image_pipeline(cfg)

    with CodingRateRecorder(model, eps) as rec, torch.no_grad():
        for path in images:
            data = pipeline(dict(img_path=path))
            batch = model.data_preprocessor(
                dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
            model(batch['inputs'], batch['data_samples'], mode='tensor')
    layers = summarize_layers(rec.records)

    os.makedirs(out_dir, exist_ok=True)
    json_path, csv_path, png_path = (osp.join(out_dir, f) for f in OUTPUTS)
    result = dict(config=config, checkpoint=checkpoint, weights=source,
                  random_init=checkpoint is None, ignored_checkpoint_keys=ignored,
                  eps=eps, images=images, layers=layers)
    write_json(json_path, result)
    write_layer_csv(csv_path, layers)
    name = osp.splitext(osp.basename(config))[0]
    plot_coding_rate(png_path, layers, f'{name}, {source}, eps={eps:g}, {len(images)} images')

    print(f'compression term per attention layer, eps={eps:g}, '
          f'mean ± std over {len(images)} images:')
    print(format_layer_table(layers))
    print(f'wrote {json_path}, {csv_path} and {png_path}')
    return result
