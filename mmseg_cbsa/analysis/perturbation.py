"""Gaussian noise on attention projection weights (paper Fig. 8, robustness).

The paper perturbs "the projection matrices (i.e. subspace bases)" of the
decoder's attention and plots mIoU against the noise level: a CBSA head
spans low-dimensional subspaces, which small noise on their bases barely
moves, while a black-box head (Segmenter) collapses. Neither the CBSA nor the
DEPICT repository ships the code for that figure, so the convention here is
ours (see :func:`perturb_`).

Which weights count as attention projections is decided by module type, not
by model:

* what every layer of this package's attention family names as its
  projections (:meth:`~mmseg_cbsa.models.attentions.BaseAttention.projection_weights`):
  its ``nn.Linear`` weights, e.g. CBSA's ``proj`` (the stacked subspace
  bases U_k) and ``to_out``, MHSA's ``qkv`` and ``proj``, and DEPICT's tied
  ``TiedMSSA.proj`` parameter;
* ``torch.nn.MultiheadAttention``'s input projection (``in_proj_weight``, or
  ``q/k/v_proj_weight`` when key and value widths differ) and
  ``out_proj.weight``; this is what mmcv's ``MultiheadAttention`` wraps and
  mmseg's ``SegmenterMaskTransformerHead`` uses.

Biases, step sizes, temperatures, gates, LayerNorms, class embeddings and the
FFN / mask projections outside attention are never touched.

:func:`measure_noise_robustness` is the whole experiment of
``tools/analysis_tools/perturbation.py``: test loops of mmengine's Runner
under noise, for several models, and the report. It serves every kind of
model the project ships configs for (:func:`resolve_noise_settings`): a
segmentor's decode head is perturbed by default (the paper's experiment);
models without one (mmpretrain image classifiers, the zero-shot [CLS]
probe) have their encoder's attention perturbed, and each is judged by its
test evaluator's main number (:data:`PRIMARY_METRICS`).
"""
import math
import os
import os.path as osp
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from torch import Tensor, nn

from ..apis import load_weights
from ..engine import build_runner
from ..engine.hooks import OverlayHook
from ..models.attentions import BaseAttention
from ..utils import init_cpu_distributed, prepare_config
from ..visualization.plots import plot_noise_robustness
from .applicability import NotApplicable
from .report import markdown_table, write_csv, write_json

NOISE_MODES = ('relative', 'absolute')

_MHA_INPUT_PROJECTIONS = ('in_proj_weight', 'q_proj_weight', 'k_proj_weight', 'v_proj_weight')


def attention_projection_weights(model: nn.Module,
                                 prefix: str = '') -> 'OrderedDict[str, nn.Parameter]':
    """The attention projection matrices of ``model``, by parameter name.

    Args:
        model: any module (a whole segmentor, a decode head, one layer).
        prefix: prepended to the returned names (e.g. ``'decode_head.'``) so
            they match the model's ``state_dict`` keys.

    Returns:
        ``{name: parameter}`` in module definition order; each parameter once
        even when attention modules are nested. Empty when ``model`` holds
        no attention (the caller decides whether that is an error).
    """
    found: 'OrderedDict[str, nn.Parameter]' = OrderedDict()
    seen = set()  # a tied or shared weight is perturbed once

    def add(name: str, param) -> None:
        if isinstance(param, nn.Parameter) and id(param) not in seen:
            seen.add(id(param))
            found[name] = param

    for mod_name, module in model.named_modules(prefix=prefix.rstrip('.')):
        base = mod_name + '.' if mod_name else ''
        if isinstance(module, nn.MultiheadAttention):
            for pname in _MHA_INPUT_PROJECTIONS:
                add(base + pname, getattr(module, pname, None))
            add(base + 'out_proj.weight', module.out_proj.weight)
            continue
        if isinstance(module, BaseAttention):
            for pname, param in module.projection_weights().items():
                add(base + pname, param)
    return found


def snapshot(params: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Detached clones of ``params``: the clean weights to restore."""
    return {k: v.detach().clone() for k, v in params.items()}


@torch.no_grad()
def restore_(params: Mapping[str, Tensor], clean: Mapping[str, Tensor]) -> None:
    """Copy ``clean`` back into ``params`` in place (bit-identical)."""
    missing = set(params) - set(clean)
    if missing:
        raise KeyError(f'no clean copy of {sorted(missing)}')
    for name, p in params.items():
        p.copy_(clean[name])


@torch.no_grad()
def perturb_(params: Mapping[str, Tensor],
             sigma: float,
             generator: torch.Generator,
             mode: str = 'relative') -> Dict[str, float]:
    r"""Add Gaussian noise to every tensor of ``params`` in place.

    .. math:: W \leftarrow W + \sigma\, s(W)\, E, \qquad E_{ij} \sim \mathcal N(0, 1)

    with :math:`s(W) = \mathrm{rms}(W) = \sqrt{\mathrm{mean}(W^2)}` of the
    weight before the call (``mode='relative'``), so that heads with
    different initialisation or trained scales (CBSA's projections vs
    Segmenter's ``in_proj_weight``) get the same signal-to-noise ratio
    ``1/sigma``; or :math:`s(W) = 1` (``mode='absolute'``, noise of standard
    deviation sigma whatever the weight's scale).

    ``E`` is drawn on the CPU from ``generator``, tensor by tensor in the
    order of ``params``, then moved to each weight's device and dtype, so a
    seed gives the same noise on any device. ``sigma == 0`` returns without
    drawing or writing, leaving the weights bit-identical.

    Returns:
        ``{name: s(W) * sigma}``, the standard deviation of the noise added.
    """
    if mode not in NOISE_MODES:
        raise ValueError(f'noise mode must be one of {NOISE_MODES}, got {mode!r}')
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f'noise level must be a finite number >= 0, got {sigma}')
    stds = {}
    for name, p in params.items():
        scale = p.detach().float().pow(2).mean().sqrt().item() if mode == 'relative' else 1.0
        stds[name] = sigma * scale
        if sigma == 0:
            continue
        noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
        p.add_(noise.to(device=p.device, dtype=p.dtype), alpha=stds[name])
    return stds


def _mean_std(values: Sequence[float]) -> Dict[str, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1)) if n > 1 else 0.0
    return dict(mean=mean, std=std)


def noise_sweep(params: Mapping[str, Tensor],
                evaluate: Callable[[float, int], Mapping[str, float]],
                noise_levels: Sequence[float],
                repeats: int = 1,
                seed: int = 0,
                mode: str = 'relative') -> List[dict]:
    """Evaluate a model at several noise levels on ``params``.

    For each level sigma and each repeat r: restore the clean weights,
    :func:`perturb_` them with a generator seeded ``seed + r``, call
    ``evaluate(sigma, r)`` (e.g. a test loop returning ``{'mIoU': ...}``). Repeat r
    uses the same noise direction at every level (common random numbers), so
    one repeat's curve changes only through sigma. sigma = 0 is evaluated
    once: it is the clean model. The clean weights are restored on return,
    also after an exception.

    Returns:
        one dict per level, in the given order: ``noise``, ``values`` (a list
        of metric dicts, one per evaluation) and ``{metric: {mean, std}}`` for
        every metric ``evaluate`` returned (std: sample std over repeats).
    """
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    if not params:
        raise ValueError('no weights to perturb')
    clean = snapshot(params)
    results = []
    try:
        for sigma in noise_levels:
            runs = []
            for r in range(repeats if sigma > 0 else 1):
                restore_(params, clean)
                perturb_(params, sigma, torch.Generator().manual_seed(seed + r), mode)
                runs.append({k: float(v) for k, v in evaluate(sigma, r).items()})
            entry = dict(noise=float(sigma), values=runs)
            for key in runs[0]:
                entry[key] = _mean_std([run[key] for run in runs])
            results.append(entry)
    finally:
        restore_(params, clean)
    return results


# --------------------------------------------------------------------------
# The experiment of tools/analysis_tools/perturbation.py
# --------------------------------------------------------------------------

#: the files :func:`measure_noise_robustness` writes into its ``out_dir``
OUTPUTS = ('perturbation.json', 'perturbation.csv', 'perturbation.png')

#: the number a model is judged by when no metric is given, by the type of
#: its config's test evaluator: mmseg's mIoU for segmentors, mmpretrain's
#: top-1 accuracy for classifiers, the best layer's foreground Jaccard of the
#: zero-shot [CLS] probe (the first column of the paper's Table 5)
PRIMARY_METRICS = {
    'IoUMetric': 'mIoU',
    'Accuracy': 'accuracy/top1',
    'ZeroShotCLSMetric': 'zero_shot/foreground/best',
}


def primary_metric(cfg: Config, config: str = 'the config') -> str:
    """The :data:`PRIMARY_METRICS` entry of ``cfg``'s test evaluator (the
    first one, if it lists several).

    Raises:
        ValueError: an evaluator the table does not know, naming it.
    """
    evaluator = cfg.get('test_evaluator')
    first = evaluator[0] if isinstance(evaluator, (list, tuple)) and evaluator else evaluator
    kind = first.get('type') if isinstance(first, dict) else None
    name = getattr(kind, '__name__', str(kind)).split('.')[-1]  # 'mmpretrain.Accuracy'
    if name not in PRIMARY_METRICS:
        raise ValueError(f'{config}: no default metric for the test evaluator {kind!r} '
                         f'(known: {", ".join(PRIMARY_METRICS)}); give --metric')
    return PRIMARY_METRICS[name]


def resolve_noise_settings(configs: Sequence[str],
                           cfg_options: Optional[dict] = None,
                           scope: Optional[str] = None,
                           metric: Optional[str] = None) -> Tuple[List[str], str]:
    """What each model's sweep perturbs and the metric of the run, decided
    from the configs alone, before any model is built.

    Args:
        scope: ``'head'`` (the decode head), ``'all'`` (the whole model), or
            None: ``'head'`` for a model with a decode head (segmentors),
            ``'all'`` for one without (image classifiers, whose head has no
            attention, and the [CLS] probe: their encoder's attention).
        metric: None: the models' :func:`primary_metric`, which must agree.

    Returns:
        (one scope per config, the metric).

    Raises:
        NotApplicable: ``scope='head'`` for a model without a decode head.
        ValueError: no metric given and the models' primary metrics differ,
            or one is unknown.
    """
    scopes, metrics = [], {}
    for config in configs:
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        has_head = bool(cfg.model.get('decode_head'))
        if scope == 'head' and not has_head:
            raise NotApplicable(f'{config}: --scope head perturbs the decode head, and '
                                f'{cfg.model.type} has none; --scope all perturbs its encoder')
        scopes.append(scope or ('head' if has_head else 'all'))
        if metric is None:
            metrics[config] = primary_metric(cfg, config)
    if metric is None:
        if len(set(metrics.values())) > 1:
            judged = ', '.join(f'{c}: {m}' for c, m in metrics.items())
            raise ValueError(f'the models are judged by different metrics ({judged}): '
                             'compare models of one kind per run, or give --metric')
        metric = next(iter(metrics.values()))
    return scopes, metric


def model_labels(configs: Sequence[str], labels: Optional[Sequence[str]] = None) -> List[str]:
    """The given labels, or config names; duplicates get ``-2``, ``-3``..."""
    labels = list(labels or [osp.splitext(osp.basename(c))[0] for c in configs])
    out = []
    for label in labels:
        unique, i = label, 2
        while unique in out:
            unique, i = f'{label}-{i}', i + 1
        out.append(unique)
    return out


def sweep_model(config: str,
                checkpoint: str,
                label: str,
                out_dir: str,
                noise: Sequence[float],
                scope: str = 'head',
                mode: str = 'relative',
                repeats: int = 1,
                seed: int = 0,
                metric: str = 'mIoU',
                cfg_options: Optional[dict] = None,
                launcher: str = 'none') -> dict:
    """One model under noise: its test loop at every level (:func:`noise_sweep`).

    The Runner is built as ``tools/test.py`` builds it (work dir
    ``out_dir/runs/<label>``); ``checkpoint`` is loaded once into its model
    by :func:`~mmseg_cbsa.apis.loading.load_weights`. The config's
    :class:`~mmseg_cbsa.engine.hooks.OverlayHook` writes the first draw of
    each level to ``overlays/noise_<sigma>/`` in that work dir.

    Args:
        scope: ``'head'`` perturbs ``model.decode_head`` only, ``'all'`` the model.
        mode, repeats, seed: see :func:`noise_sweep`.
        metric: must be among the test evaluator's results.

    Returns:
        ``label``, ``config``, ``checkpoint``, ``scope``, ``weights``
        (perturbed name -> shape), ``num_perturbed`` (entries) and
        ``results`` (:func:`noise_sweep`).
    """
    from mmengine.model import is_model_wrapper

    work_dir = osp.join(out_dir, 'runs', re.sub(r'[^\w.-]+', '_', label))
    cfg = prepare_config(config, cfg_options, work_dir, launcher)
    runner = build_runner(cfg)  # no load_from: runner.test() loads nothing
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    # once, by the analysis tools' loader: the same files as coding_rate.py
    # (a bare encoder; a converted classifier's head.* for a headless probe)
    ignored = load_weights(model, checkpoint)
    runner.logger.info(f'Load checkpoint from {checkpoint}' +
                       (f' (ignored, no place in the model: {ignored})' if ignored else ''))
    if scope == 'head':
        if not hasattr(model, 'decode_head'):
            raise NotApplicable(f'{config}: --scope head needs a model with a decode_head, '
                                f'got {type(model).__name__}; use --scope all')
        params = attention_projection_weights(model.decode_head, prefix='decode_head.')
    else:
        params = attention_projection_weights(model)
    if not params:
        where = 'model.decode_head' if scope == 'head' else 'the model'
        raise ValueError(f'{config}: no attention projection weights found in {where} '
                         '(attention-family layers of mmseg_cbsa or nn.MultiheadAttention)')

    # prediction overlays of the config's OverlayHook, one folder per level
    # (first draw only) instead of each level overwriting the previous one
    overlays = [(h, h.draw) for h in runner.hooks if isinstance(h, OverlayHook)]

    def evaluate(sigma: float, repeat: int) -> dict:
        for hook, draw in overlays:
            hook.out_dir = osp.join('overlays', f'noise_{sigma:g}')
            hook.draw = draw and repeat == 0
        metrics = runner.test()
        if metric not in metrics:
            raise KeyError(f'{config}: the test evaluator returned no {metric!r}; '
                           f'it returned {sorted(metrics)} (see --metric)')
        # IoUMetric rounds to 2 decimals in float32: its shortest decimal form is
        # the number the log prints (10.44, not 10.4399995803833)
        return {k: float(str(v)) for k, v in metrics.items()}

    results = noise_sweep(params, evaluate, noise, repeats, seed, mode)
    return dict(
        label=label,
        config=config,
        checkpoint=checkpoint,
        scope=scope,
        weights={
            k: list(v.shape)
            for k, v in params.items()
        },
        num_perturbed=sum(v.numel() for v in params.values()),
        results=results)


def format_noise_table(models: Sequence[dict], metric: str) -> str:
    """Markdown table, rows noise levels, columns models: mean (± std when
    a level was drawn more than once), with 2 decimals for percentages
    (mIoU, accuracy) and 4 for fractions (the probe's Jaccard indices)."""
    means = [r[metric]['mean'] for m in models for r in m['results']]
    digits = 2 if max(abs(v) for v in means) > 1 else 4
    rows = []
    for i, entry in enumerate(models[0]['results']):
        cells = [f"{entry['noise']:g}"]
        for m in models:
            r = m['results'][i][metric]
            runs = len(m['results'][i]['values'])
            cells.append(f"{r['mean']:.{digits}f}" +
                         (f" ± {r['std']:.{digits}f}" if runs > 1 else ''))
        rows.append(cells)
    return markdown_table(['noise'] + [m['label'] for m in models], rows)


def write_noise_csv(path: str, models: Sequence[dict], metric: str) -> None:
    """One CSV row per model and level: runs, mean, std and every value of ``metric``."""
    write_csv(path, ['model', 'noise', 'runs', f'{metric}_mean', f'{metric}_std', 'values'], [[
        m['label'], r['noise'],
        len(r['values']), r[metric]['mean'], r[metric]['std'], ' '.join(
            str(v[metric]) for v in r['values'])
    ] for m in models for r in m['results']])


def measure_noise_robustness(configs: Sequence[str],
                             checkpoints: Sequence[str],
                             out_dir: str,
                             labels: Optional[Sequence[str]] = None,
                             noise: Sequence[float] = (0, 0.01, 0.03, 0.1, 0.3, 1.0),
                             scope: Optional[str] = None,
                             mode: str = 'relative',
                             repeats: int = 1,
                             seed: int = 0,
                             metric: Optional[str] = None,
                             cfg_options: Optional[dict] = None,
                             launcher: str = 'none') -> List[dict]:
    """Models under Gaussian noise on their attention projections (Fig. 8).

    The scope of each model and the metric are decided first, from the
    configs (:func:`resolve_noise_settings`; a line says what a default
    chose). Every (config, checkpoint) pair is swept by :func:`sweep_model`; then
    the main process writes :data:`OUTPUTS` to ``out_dir``:
    ``perturbation.json`` (settings and every evaluation),
    ``perturbation.csv`` (one row per model and level) and
    ``perturbation.png`` (metric against noise), and prints the table.

    Args:
        labels: model names (default: config names; made unique).
        scope, metric: see :func:`resolve_noise_settings`.
        launcher: mmengine launcher; ``'pytorch'`` without CUDA uses gloo. The process
            group is left to the caller to end (``exit_finished_run``).
        Others: see :func:`sweep_model`.

    Returns:
        one :func:`sweep_model` entry per model.

    Raises:
        NotApplicable, ValueError: from :func:`resolve_noise_settings`,
            before any model is built.
    """
    from mmengine.dist import is_main_process

    scopes, chosen = resolve_noise_settings(configs, cfg_options, scope, metric)
    names = model_labels(configs, labels)
    init_cpu_distributed(launcher)
    if is_main_process():
        if metric is None:
            print(f'metric: {chosen} (the test evaluator\'s main number; --metric for another)')
        for label, model_scope in zip(names, scopes):
            if scope is None and model_scope == 'all':
                print(f'note: {label} has no decode head: perturbing the attention of the whole '
                      'model, i.e. its encoder (--scope all)')
    metric = chosen
    models = [
        sweep_model(cfg, ckpt, label, out_dir, noise, model_scope, mode, repeats, seed, metric,
                    cfg_options, launcher)
        for cfg, ckpt, label, model_scope in zip(configs, checkpoints, names, scopes)
    ]
    scope = scopes[0] if len(set(scopes)) == 1 else 'per model'
    if is_main_process():
        os.makedirs(out_dir, exist_ok=True)
        json_path, csv_path, png_path = (osp.join(out_dir, f) for f in OUTPUTS)
        settings = dict(
            noise=noise,
            scope=scope,
            mode=mode,
            repeats=repeats,
            seed=seed,
            metric=metric,
            cfg_options=cfg_options)
        write_json(json_path, dict(settings=settings, models=models))
        write_noise_csv(csv_path, models, metric)
        plot_noise_robustness(png_path, models, metric, noise, mode, scope, repeats > 1)
        print(f'\n{metric} under noise on the attention projections (scope {scope}, {mode}):')
        print(format_noise_table(models, metric))
        print(f'wrote perturbation.json, perturbation.csv and perturbation.png to {out_dir}')
    return models
