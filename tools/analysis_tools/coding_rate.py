"""Coding rate of the tokens every attention layer sees (paper Fig. 5).

    python tools/analysis_tools/coding_rate.py CONFIG [CHECKPOINT] \\
        --images FOLDER_OR_FILES [...] --out-dir DIR \\
        [--eps 0.5] [--max-images N] [--device cpu] [--seed 0] [--cfg-options k=v ...]

CONFIG: any config of the plugin (ViT / CRATE / CBT / ToST / CRATECBT
encoders, CBTHead / DEPICTHead decoders, CLSAttentionProbe, or an mmpretrain
classifier built from these backbones). CHECKPOINT: an mmengine checkpoint or
a bare state dict (a backbone-only dict is loaded into ``model.backbone``),
read weights-only; without it the model's own random initialisation is
measured (seeded by --seed), and the output says so. Every weight of the
model must be in the checkpoint; checkpoint tensors the model has no place
for (e.g. a classifier's ``head.fc``) are reported and ignored.

Each image goes through the config's test pipeline (the test dataloader's,
else ``test_pipeline``; annotations dropped) and data preprocessor, then one
forward pass (``mode='tensor'``: no sliding window, no test-time
augmentation). A forward pre-hook on every layer of the attention family
measures, for the tokens Z the layer receives (after the block's LayerNorm;
[CLS] and class embeddings included), the compression term
``Rc(Z) = sum_k R(Z U_k)`` with the layer's subspace bases U_k, and the same
on unit-norm tokens; see mmseg_cbsa/evaluation/coding_rate.py for the
formula and for how U_k is read from each layer type (MHSA: the per-head
value projection).

Prints one row per attention layer (encoder layers first, then decoder
layers, in the order they run): mean and std over images. Writes to
--out-dir ``coding_rate.json`` (settings and every value, also per head and
per image), ``coding_rate.csv`` (one row per layer) and ``coding_rate.png``
(Rc and normalised Rc against the layer index, like Fig. 5).
"""
import argparse
import csv
import json
import logging
import math
import os
import os.path as osp
from typing import Any, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger
from torch import nn

import mmseg_cbsa  # noqa: F401  (registers modules, allow-lists checkpoint types)
from mmseg_cbsa.evaluation.coding_rate import CodingRateRecorder, summarize_layers
from mmseg_cbsa.utils import collect_images, extract_state_dict, load_checkpoint_file

OUTPUTS = ('coding_rate.json', 'coding_rate.csv', 'coding_rate.png')
#: legend names of a segmentor's top-level parts
ROLES = {'backbone': 'encoder', 'neck': 'neck', 'decode_head': 'decoder',
         'auxiliary_head': 'auxiliary decoder'}


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', help='weights; random initialisation if omitted')
    p.add_argument('--images', nargs='+', required=True, help='image files and/or folders')
    p.add_argument('--out-dir', required=True, help='where the JSON, CSV and plot go')
    p.add_argument('--eps', type=float, default=0.5, help='coding precision (default 0.5)')
    p.add_argument('--max-images', type=int, help='use at most this many images (sorted order)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--seed', type=int, default=0, help='seed of the random initialisation')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override config settings, key=value pairs')
    args = p.parse_args(argv)
    if not osp.isfile(args.config):
        p.error(f'config not found: {args.config}')
    if args.checkpoint is not None and not osp.isfile(args.checkpoint):
        p.error(f'checkpoint not found: {args.checkpoint}')
    if not (math.isfinite(args.eps) and args.eps > 0):
        p.error(f'--eps must be a finite number > 0, got {args.eps}')
    if args.max_images is not None and args.max_images < 1:
        p.error(f'--max-images must be >= 1, got {args.max_images}')
    return args


def drop_pretrained(node: Any) -> Any:
    """Remove ``Pretrained`` init_cfgs and ``pretrained`` paths from a model
    config: the weights come from CHECKPOINT (or nowhere), not from files the
    config names."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        inits = init if isinstance(init, list) else [init]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in inits):
            kept = [i for i in inits if not (isinstance(i, dict) and i.get('type') == 'Pretrained')]
            node['init_cfg'] = kept or None
        if 'pretrained' in node:
            node['pretrained'] = None
        for value in node.values():
            drop_pretrained(value)
    elif isinstance(node, list):
        for value in node:
            drop_pretrained(value)
    return node


def load_weights(model: nn.Module, path: str) -> List[str]:
    """Load CHECKPOINT (weights-only) into ``model``; returns the checkpoint
    keys the model has no place for.

    Raises:
        KeyError: the checkpoint lacks weights of the model.
        ValueError: a tensor has the wrong shape.
    """
    state = extract_state_dict(load_checkpoint_file(path), path)
    own = set(model.state_dict())
    if not own & set(state) and hasattr(model, 'backbone'):
        # a bare encoder state dict (e.g. a converted classifier's backbone)
        state = {f'backbone.{k}': v for k, v in state.items()}
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as e:
        raise ValueError(f'{path}: tensors do not fit the model built from the config: {e}') from e
    if result.missing_keys:
        miss = result.missing_keys
        raise KeyError(f'{path}: the checkpoint lacks {len(miss)} weights of the model built from '
                       f'the config, e.g. {miss[:6]}; is it the checkpoint of this config?')
    return list(result.unexpected_keys)


def build_model(cfg: Config, checkpoint: Optional[str], device: str, seed: int
                ) -> Tuple[nn.Module, str, List[str]]:
    """The model in eval mode, a line saying where its weights come from, and
    the ignored checkpoint keys."""
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    # not mmseg's init_model: it adds keys (pretrained, train_cfg) that models
    # other than segmentors (CLSAttentionProbe) refuse
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    # parameters the init_weights pass leaves alone (conv stems, CBSA step
    # sizes) are drawn when the model is built: seed before building
    torch.manual_seed(seed)
    model = MODELS.build(drop_pretrained(cfg.model))
    if checkpoint is None:
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)    # init_weights logs every parameter
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        source, ignored = f'random initialisation (init_weights, seed {seed}): no checkpoint', []
    else:
        ignored = load_weights(model, checkpoint)
        source = f'checkpoint {checkpoint}'
    return model.to(device).eval(), source, ignored


def image_pipeline(cfg: Config):
    """The test dataloader's pipeline (else ``test_pipeline``) without annotations."""
    from mmcv.transforms import Compose
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    steps = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not steps:
        raise KeyError('the config has no test_dataloader.dataset.pipeline nor test_pipeline')
    steps = [dict(s) for s in steps if 'Annotation' not in s['type']]
    if not any('LoadImage' in s['type'] for s in steps):
        raise ValueError(f'the test pipeline loads no image: {[s["type"] for s in steps]}')
    return Compose(steps)


def format_table(layers: List[dict]) -> str:
    lines = ['| # | part | layer | type | K x p | N | Rc | Rc (normalised) |',
             '|---|---|---|---|---|---|---|---|']
    for layer in layers:
        tokens = '/'.join(str(n) for n in layer['num_tokens'])
        lines.append(
            f"| {layer['index']} | {layer['part']} | {layer['name']} | {layer['type']} | "
            f"{layer['num_heads']} x {layer['head_dims']} | {tokens} | "
            f"{layer['Rc_mean']:.2f} ± {layer['Rc_std']:.2f} | "
            f"{layer['Rc_normalized_mean']:.2f} ± {layer['Rc_normalized_std']:.2f} |")
    return '\n'.join(lines)


def write_csv(path: str, layers: List[dict]) -> None:
    cols = ['index', 'part', 'name', 'type', 'num_heads', 'head_dims', 'samples', 'Rc_mean',
            'Rc_std', 'Rc_normalized_mean', 'Rc_normalized_std']
    with open(path, 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(cols + ['num_tokens'])
        for layer in layers:
            w.writerow([layer[c] for c in cols] +
                       [' '.join(str(n) for n in layer['num_tokens'])])


def plot(path: str, layers: List[dict], title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    idx = [layer['index'] + 1 for layer in layers]
    parts = list(dict.fromkeys(layer['part'] for layer in layers))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], 'Rc', r'$R^c(Z^\ell)$'),
                           (axes[1], 'Rc_normalized', r'$R^c$ of unit-norm tokens')):
        for c, part in enumerate(parts):
            sel = [i for i, layer in enumerate(layers) if layer['part'] == part]
            ax.errorbar([idx[i] for i in sel], [layers[i][f'{key}_mean'] for i in sel],
                        yerr=[layers[i][f'{key}_std'] for i in sel], fmt='o-', capsize=3,
                        color=f'C{c}', label=f'{ROLES.get(part, part)} ({part})')
        ax.set_xlabel(r'layer index $\ell$ (in running order)')
        ax.set_ylabel(label)
        ax.set_xticks(idx)
        ax.grid(alpha=.3)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    images = collect_images(args.images, args.max_images)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    model, source, ignored = build_model(cfg, args.checkpoint, args.device, args.seed)
    print(f'weights: {source}')
    if ignored:
        print(f'ignored {len(ignored)} checkpoint tensors the model has no place for, '
              f'e.g. {ignored[:4]}')
    pipeline = image_pipeline(cfg)

    with CodingRateRecorder(model, args.eps) as rec, torch.no_grad():
        for path in images:
            data = pipeline(dict(img_path=path))
            batch = model.data_preprocessor(
                dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
            model(batch['inputs'], batch['data_samples'], mode='tensor')
    layers = summarize_layers(rec.records)

    os.makedirs(args.out_dir, exist_ok=True)
    json_path, csv_path, png_path = (osp.join(args.out_dir, f) for f in OUTPUTS)
    result = dict(config=args.config, checkpoint=args.checkpoint, weights=source,
                  random_init=args.checkpoint is None, ignored_checkpoint_keys=ignored,
                  eps=args.eps, images=images, layers=layers)
    with open(json_path, 'w') as f:
        json.dump(result, f, indent=1)
    write_csv(csv_path, layers)
    name = osp.splitext(osp.basename(args.config))[0]
    plot(png_path, layers, f'{name}, {source}, eps={args.eps:g}, {len(images)} images')

    print(f'compression term per attention layer, eps={args.eps:g}, '
          f'mean ± std over {len(images)} images:')
    print(format_table(layers))
    print(f'wrote {json_path}, {csv_path} and {png_path}')
    return result


if __name__ == '__main__':
    main()
