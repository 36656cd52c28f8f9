"""The coding rate of every attention layer of a config's model on image
files (paper Fig. 5): the measurement of ``tools/analysis_tools/coding_rate.py``.

The formulas and the recorder are in :mod:`mmseg_cbsa.analysis.coding_rate`;
this module only builds the model, feeds the images and writes the report.
"""
import os
import os.path as osp
from contextlib import nullcontext
from typing import Callable, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from torch import nn

from ..apis import LoadedModel, build_model, image_pipeline
from ..utils import collect_images
from ..utils.images import read_image
from ..visualization.plots import plot_coding_rate, plot_subspace_reduction
from .coding_rate import (CodingRateRecorder, SubspaceReductionRecorder, subspace_correlation,
                          summarize_layers, summarize_subspaces)
from .report import dict_rows, markdown_table, write_csv, write_json

#: the files :func:`measure_coding_rate` writes into its ``out_dir``
OUTPUTS = ('coding_rate.json', 'coding_rate.csv', 'coding_rate.png')
#: the files it adds with ``per_subspace`` (and a ``subspaces`` key in the JSON)
SUBSPACE_OUTPUTS = ('coding_rate_subspaces.csv', 'coding_rate_subspaces.png')
_SUBSPACE_COLUMNS = [
    'index', 'part', 'name', 'type', 'head', 'samples', 'tokens_reduction_mean',
    'tokens_reduction_std', 'reps_reduction_mean', 'reps_reduction_std', 'tokens_before',
    'tokens_after', 'reps_before', 'reps_after'
]
_CSV_COLUMNS = [
    'index', 'part', 'name', 'type', 'num_heads', 'head_dims', 'samples', 'Rc_mean', 'Rc_std',
    'Rc_normalized_mean', 'Rc_normalized_std'
]


def format_layer_table(layers: Sequence[dict]) -> str:
    """Markdown table of :func:`~mmseg_cbsa.analysis.coding_rate.summarize_layers`
    entries: one row per layer, ``Rc`` and normalised ``Rc`` as mean ± std."""
    rows = [[
        layer['index'], layer['part'], layer['name'], layer['type'],
        f"{layer['num_heads']} x {layer['head_dims']}",
        '/'.join(str(n)
                 for n in layer['num_tokens']), f"{layer['Rc_mean']:.2f} ± {layer['Rc_std']:.2f}",
        f"{layer['Rc_normalized_mean']:.2f} ± {layer['Rc_normalized_std']:.2f}"
    ] for layer in layers]
    return markdown_table(['#', 'part', 'layer', 'type', 'K x p', 'N', 'Rc', 'Rc (normalised)'],
                          rows)


def write_layer_csv(path: str, layers: Sequence[dict]) -> None:
    """One CSV row per layer: the scalar fields, then ``num_tokens``
    (space-separated token counts)."""
    write_csv(path, _CSV_COLUMNS + ['num_tokens'], [
        row + [' '.join(str(n) for n in layer['num_tokens'])]
        for row, layer in zip(dict_rows(layers, _CSV_COLUMNS), layers)
    ])


def subspace_rows(layers: Sequence[dict]) -> List[list]:
    """One row per (layer, head) of :func:`~mmseg_cbsa.analysis.coding_rate.summarize_subspaces`
    entries, in the order of ``_SUBSPACE_COLUMNS``."""
    per_head = _SUBSPACE_COLUMNS[6:]
    return [[layer[c] for c in _SUBSPACE_COLUMNS[:4]] + [k, layer['samples']] +
            [layer[c][k] for c in per_head] for layer in layers for k in range(layer['num_heads'])]


def format_subspace_table(layers: Sequence[dict]) -> str:
    """Markdown table, one row per CBSA layer and subspace: the reductions
    on tokens and on representatives side by side, mean ± std."""
    rows = [[
        r[0], r[1], r[2], r[4], f'{r[6]:.3f} ± {r[7]:.3f}', f'{r[8]:.3f} ± {r[9]:.3f}',
        f'{r[10]:.2f} -> {r[11]:.2f}', f'{r[12]:.2f} -> {r[13]:.2f}'
    ] for r in subspace_rows(layers)]
    return markdown_table([
        '#', 'part', 'layer', 'head', 'ΔR tokens', 'ΔR representatives', 'R tokens',
        'R representatives'
    ], rows)


def prepare_model(config: str, images: Sequence[str], checkpoint: Optional[str],
                  max_images: Optional[int], device: str, seed: int,
                  cfg_options: Optional[dict]) -> Tuple[Config, List[str], LoadedModel]:
    """What every per-image measurement starts with: the images (see
    :func:`~mmseg_cbsa.utils.collect_images`), the config (with
    ``cfg_options`` merged) and its model with the checkpoint loaded
    (:func:`~mmseg_cbsa.apis.loading.build_model`); prints where the
    weights come from and the checkpoint keys ignored."""
    images = collect_images(images, max_images)
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    loaded = build_model(cfg, checkpoint, device, seed)
    print(f'weights: {loaded.source}')
    if loaded.ignored_keys:
        print(f'ignored {len(loaded.ignored_keys)} checkpoint tensors the model has no place '
              f'for, e.g. {loaded.ignored_keys[:4]}')
    return cfg, images, loaded


def file_pipeline(cfg: Config) -> Callable[[str], dict]:
    """The config's test pipeline (:func:`~mmseg_cbsa.apis.loading.image_pipeline`)
    for image files: ``run(path)`` gives ``inputs`` (3, H, W) and
    ``data_samples``.

    A pipeline that loads files is given the path. One without a loading
    step (mmpretrain's in-memory datasets, e.g. CIFAR in
    ``configs/finetune/``, hand their transforms RGB arrays) is given the
    file's pixels as such an array, in RGB.

    Raises:
        mmseg_cbsa.utils.images.UnreadableImage: an empty or undecodable
            file, by name (from ``run``).
    """
    pipeline = image_pipeline(cfg, loads_image=False)
    loads = any('LoadImage' in type(t).__name__ for t in pipeline.transforms)

    def run(path: str) -> dict:
        image = read_image(path)  # an empty or undecodable file is named, not a cv2 error
        if loads:
            return pipeline(dict(img_path=path))
        return pipeline(
            dict(img=image, img_path=path, img_shape=image.shape[:2], ori_shape=image.shape[:2]))

    return run


def forward_images(model: nn.Module, cfg: Config, images: Sequence[str]) -> None:
    """One ``mode='tensor'`` forward per image file, after the config's test
    pipeline (:func:`file_pipeline`) and the model's data preprocessor; no
    gradients. What hooks record is the result.

    Raises:
        mmseg_cbsa.utils.images.UnreadableImage: an empty or undecodable
            file, by name.
    """
    pipeline = file_pipeline(cfg)
    with torch.no_grad():
        for path in images:
            data = pipeline(path)
            batch = model.data_preprocessor(
                dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
            model(batch['inputs'], batch['data_samples'], mode='tensor')


def measure_coding_rate(config: str,
                        images: Sequence[str],
                        out_dir: str,
                        checkpoint: Optional[str] = None,
                        eps: float = 0.5,
                        max_images: Optional[int] = None,
                        device: str = 'cpu',
                        seed: int = 0,
                        cfg_options: Optional[dict] = None,
                        per_subspace: bool = False) -> dict:
    """Coding rate of the tokens every attention layer of a model sees.

    Each image goes through the config's test pipeline
    (:func:`file_pipeline`) and data
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
        checkpoint: weights (see :func:`~mmseg_cbsa.apis.loading.load_weights`);
            None measures the ``init_weights`` initialisation seeded by ``seed``.
        eps: precision ε.
        device: where the model runs.
        cfg_options: overrides merged into the config.
        per_subspace: also measure, per CBSA layer and subspace, the coding
            rate the layer removes from the tokens and from the
            representatives (paper Fig. 6,
            :class:`~mmseg_cbsa.analysis.coding_rate.LayerSubspaceRates`):
            adds ``subspaces`` and ``subspace_correlation`` to the result
            (and ``subspaces_not_measured``, name -> why, when layers that
            extract representatives lack the tensors in their maps, e.g.
            QKVCBSA), :data:`SUBSPACE_OUTPUTS` to ``out_dir`` and a second
            table (when some layer was measured).
            Without it the outputs are those of the per-layer measurement
            alone.

    Returns:
        ``config``, ``checkpoint``, ``weights`` (their source), ``random_init``,
        ``ignored_checkpoint_keys``, ``eps``, ``images`` and ``layers``
        (one summary per layer, in running order). Also prints the table.
    """
    cfg, images, (model, source, ignored) = prepare_model(config, images, checkpoint, max_images,
                                                          device, seed, cfg_options)
    subspaces = SubspaceReductionRecorder(model, eps) if per_subspace else nullcontext()
    with CodingRateRecorder(model, eps) as rec, subspaces:
        forward_images(model, cfg, images)
    layers = summarize_layers(rec.records)

    os.makedirs(out_dir, exist_ok=True)
    json_path, csv_path, png_path = (osp.join(out_dir, f) for f in OUTPUTS)
    result = dict(
        config=config,
        checkpoint=checkpoint,
        weights=source,
        random_init=checkpoint is None,
        ignored_checkpoint_keys=ignored,
        eps=eps,
        images=images,
        layers=layers)
    name = osp.splitext(osp.basename(config))[0]
    title = f'{name}, {source}, eps={eps:g}, {len(images)} images'
    if per_subspace:
        result['subspaces'] = summarize_subspaces(subspaces.records)
        result['subspace_correlation'] = subspace_correlation(result['subspaces'])
        if subspaces.unmeasured:
            result['subspaces_not_measured'] = dict(subspaces.unmeasured)
    write_json(json_path, result)
    write_layer_csv(csv_path, layers)
    plot_coding_rate(png_path, layers, title)

    print(f'compression term per attention layer, eps={eps:g}, '
          f'mean ± std over {len(images)} images:')
    print(format_layer_table(layers))
    print(f'wrote {json_path}, {csv_path} and {png_path}')
    if per_subspace:
        for name, why in subspaces.unmeasured.items():
            print(f'Fig. 6 per-subspace rates not measured for {name} ({why})')
        if result['subspaces']:
            sub_csv, sub_png = (osp.join(out_dir, f) for f in SUBSPACE_OUTPUTS)
            write_csv(sub_csv, _SUBSPACE_COLUMNS, subspace_rows(result['subspaces']))
            plot_subspace_reduction(sub_png, result['subspaces'], title)
            corr = result['subspace_correlation']
            print(f'coding rate removed by one CBSA layer in each subspace (Fig. 6), tokens '
                  f'and representatives, mean ± std over {len(images)} images:')
            print(format_subspace_table(result['subspaces']))
            print('correlation over subspaces: ' +
                  ('n/a (fewer than 3 subspaces)' if corr is None else f'{corr:.3f}'))
            print(f'wrote {sub_csv} and {sub_png}')
    return result
