"""The plots of the analysis tools (matplotlib, written as PNG files).

Every function draws one figure into ``path`` and closes it. matplotlib is
imported on the first call with the non-interactive Agg backend, so that
importing the package stays cheap and works without a display. Figure
sizes and resolutions are fixed: the pixel size of each file is part of
what the tools promise (and what their tests check).
"""
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np

#: legend names of a segmentor's top-level parts
ROLES = {
    'backbone': 'encoder',
    'neck': 'neck',
    'decode_head': 'decoder',
    'auxiliary_head': 'auxiliary decoder'
}


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: str, dpi: int) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)


def plot_coding_rate(path: str, layers: Sequence[dict], title: str) -> None:
    """Compression term against the layer index (paper Fig. 5): 1320x480 px.

    Two panels, ``Rc`` and ``Rc`` of unit-norm tokens, mean ± std per layer,
    one line per part of the model (encoder, decoder, ...).

    Args:
        layers: entries of :func:`mmseg_cbsa.analysis.coding_rate.summarize_layers`
            (``index``, ``part``, ``Rc_mean``, ``Rc_std``, ``Rc_normalized_mean``,
            ``Rc_normalized_std``).
    """
    plt = _pyplot()
    idx = [layer['index'] + 1 for layer in layers]
    parts = list(dict.fromkeys(layer['part'] for layer in layers))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], 'Rc', r'$R^c(Z^\ell)$'), (axes[1], 'Rc_normalized',
                                                               r'$R^c$ of unit-norm tokens')):
        for c, part in enumerate(parts):
            sel = [i for i, layer in enumerate(layers) if layer['part'] == part]
            ax.errorbar([idx[i] for i in sel], [layers[i][f'{key}_mean'] for i in sel],
                        yerr=[layers[i][f'{key}_std'] for i in sel],
                        fmt='o-',
                        capsize=3,
                        color=f'C{c}',
                        label=f'{ROLES.get(part, part)} ({part})')
        ax.set_xlabel(r'layer index $\ell$ (in running order)')
        ax.set_ylabel(label)
        ax.set_xticks(idx)
        ax.grid(alpha=.3)
        ax.legend()
    fig.suptitle(title, fontsize=9)
    _save(fig, path, 120)


def plot_noise_robustness(path: str, models: Sequence[dict], metric: str, noise: Sequence[float],
                          mode: str, scope: str, error_bars: bool) -> None:
    """Metric against the noise level, one line per model (paper Fig. 8): 720x480 px.

    Args:
        models: entries with ``label`` and ``results`` (one per level:
            ``noise`` and ``{metric: {'mean', 'std'}}``), as
            :func:`mmseg_cbsa.analysis.perturbation.measure_noise_robustness` gives.
        metric: the metric on the y axis.
        noise: the levels asked for; a symlog x axis when they span 100x.
        mode, scope: the noise mode and the perturbed part, for the labels.
        error_bars: draw the std over noise draws.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for m in models:
        x = [r['noise'] for r in m['results']]
        y = [r[metric]['mean'] for r in m['results']]
        err = [r[metric]['std'] for r in m['results']]
        ax.errorbar(x, y, yerr=err if error_bars else None, fmt='o-', capsize=3, label=m['label'])
    positive = [s for s in noise if s > 0]
    # the paper's axis is logarithmic; symlog keeps sigma = 0 on it
    if positive and max(positive) / min(positive) >= 100:
        ax.set_xscale('symlog', linthresh=min(positive))
    unit = 'x rms(W)' if mode == 'relative' else 'absolute'
    ax.set_xlabel(f'noise level sigma ({unit})')
    ax.set_ylabel(metric)
    ax.set_title(f'noise on attention projections ({scope})', fontsize=9)
    ax.grid(alpha=.3)
    ax.legend(fontsize=8)
    _save(fig, path, 120)


def plot_synthetic_compression(path: str, before: np.ndarray, after: np.ndarray, labels: np.ndarray,
                               rc: Sequence[float], title: str) -> None:
    """3-D scatter before / after and ``Rc`` per iteration (paper Fig. 4): 1540x506 px.

    Args:
        before, after: (N, 3) points (tensors are accepted).
        labels: (N,) component of each point, coloured ``C<k>``.
        rc: ``Rc`` at iterations 0..T.
    """
    plt = _pyplot()
    before, after, labels = (np.asarray(a) for a in (before, after, labels))
    fig = plt.figure(figsize=(14, 4.6))
    panels = ((before, 'before'), (after, f'after {len(rc) - 1} iterations'))
    for i, (pts, name) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1, projection='3d')
        for k in np.unique(labels).tolist():
            sel = pts[labels == k]
            ax.scatter(sel[:, 0], sel[:, 1], sel[:, 2], s=4, color=f'C{k}', label=f'component {k}')
        # equal axes so that lines look like lines; each panel at its own scale
        # since the operator also shrinks the principal directions, only slower
        half = float(np.abs(pts).max())
        for setter in (ax.set_xlim, ax.set_ylim, ax.set_zlim):
            setter(-half, half)
        ax.set_box_aspect((1, 1, 1))
        ax.set_title(name)
        if i == 0:
            ax.legend(fontsize=7, loc='upper left')
    ax = fig.add_subplot(1, 3, 3)
    ax.plot(range(len(rc)), rc, 'o-', ms=3)
    ax.set_xlabel('iteration')
    ax.set_ylabel(r'$R^c = \sum_k R(Z_k)$')
    ax.grid(alpha=.3)
    fig.suptitle(title, fontsize=9)
    _save(fig, path, 110)


def plot_latency(path: str, series: Mapping[str, Sequence[dict]], title: str) -> None:
    """Median latency against patch tokens, log-log, one line per series: 840x600 px.

    Args:
        series: ``{legend label: rows}``, rows with ``tokens`` and ``latency_ms``.
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 5))
    for label, rows in series.items():
        ax.loglog([r['tokens'] for r in rows], [r['latency_ms'] for r in rows], 'o-', label=label)
    ax.set_xlabel('patch tokens')
    ax.set_ylabel('median latency (ms)')
    ax.set_title(title)
    ax.grid(True, which='both', alpha=.3)
    ax.legend(fontsize=7)
    _save(fig, path, 120)


def plot_zero_shot_layers(path: str,
                          per_layer: Mapping[str, Mapping[int, float]],
                          title: str,
                          ids: Optional[List[int]] = None) -> None:
    """Zero-shot Jaccard index per layer, one line per target: 720x480 px.

    Args:
        per_layer: ``{target: {layer: value}}``.
        ids: the layers on the x axis (default: those of the first target, sorted).
    """
    plt = _pyplot()
    targets: Dict[str, Mapping[int, float]] = dict(per_layer)
    if ids is None:
        ids = sorted(next(iter(targets.values())))
    fig, ax = plt.subplots(figsize=(6, 4))
    for t, values in targets.items():
        ax.plot(ids, [values[i] for i in ids], 'o-', label=t)
    ax.set_xlabel('layer')
    ax.set_ylabel('Jaccard (best head, mean over images)')
    ax.set_title(title, fontsize=8)
    ax.legend()
    ax.grid(alpha=.3)
    _save(fig, path, 120)


def plot_rep_rank(path: str, layers: Sequence[dict], title: str) -> None:
    """Rank of the extraction matrix per CBSA layer and head (paper
    Appendix A): 1320x480 px.

    Two panels, numerical rank / m and effective rank / m, against the layer
    (in running order); one marker per head (means over images), the layer
    mean as a line, 1 (every representative used) dashed.

    Args:
        layers: entries of :func:`mmseg_cbsa.analysis.rep_rank.summarize_ranks`
            (``index``, ``rank_over_m``, ``effective_rank``,
            ``num_representatives``, ``name``).
    """
    plt = _pyplot()
    idx = [layer['index'] + 1 for layer in layers]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    effective = [[e / max(layer['num_representatives']) for e in layer['effective_rank']]
                 for layer in layers]
    panels = ((axes[0], [layer['rank_over_m'] for layer in layers], 'rank(A) / m'),
              (axes[1], effective, 'effective rank(A) / m'))
    for ax, values, label in panels:
        for x, heads in zip(idx, values):
            offsets = np.linspace(-0.15, 0.15, len(heads)) if len(heads) > 1 else [0.0]
            ax.scatter(x + np.asarray(offsets), heads, s=14, color='C0', alpha=.7)
        ax.plot(idx, [float(np.mean(v)) for v in values], 'o-', color='C1', label='mean of heads')
        ax.axhline(1.0, color='gray', linestyle='--', linewidth=1)
        ax.set_ylim(0, 1.08)
        ax.set_xlim(0.5, len(idx) + 0.5)
        ax.set_xticks(idx)
        ax.set_xlabel('CBSA layer (in running order)')
        ax.set_ylabel(label)
        ax.grid(alpha=.3)
        ax.legend(fontsize=8, loc='lower left')
    inits = ', '.join(sorted({layer['rep_init'] for layer in layers}))
    fig.suptitle(f'{title}; representatives: {inits}', fontsize=9)
    _save(fig, path, 120)


def plot_subspace_reduction(path: str, layers: Sequence[dict], title: str) -> None:
    """Coding rate removed by one CBSA layer per subspace, tokens and
    representatives side by side (paper Fig. 6): 1320x480 px.

    Left: both reductions against the subspaces, layer by layer (mean ± std
    over images; dashed lines separate the layers). Right: representatives'
    reduction against the tokens', one point per subspace.

    Args:
        layers: entries of :func:`mmseg_cbsa.analysis.coding_rate.summarize_subspaces`.
    """
    plt = _pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw=dict(width_ratios=(2, 1)))
    x, ticks, labels = 0, [], []
    for li, layer in enumerate(layers):
        k = layer['num_heads']
        xs = np.arange(x, x + k)
        for key, c, name in (('tokens', 'C0', 'input tokens'), ('reps', 'C3', 'representatives')):
            ax.errorbar(
                xs,
                layer[f'{key}_reduction_mean'],
                yerr=layer[f'{key}_reduction_std'],
                fmt='o-',
                color=c,
                capsize=2,
                ms=4,
                label=name if li == 0 else None)
        ax2.scatter(
            layer['tokens_reduction_mean'],
            layer['reps_reduction_mean'],
            s=16,
            color=f'C{li % 10}',
            label=layer['name'])
        ticks.append(x + (k - 1) / 2)
        labels.append(str(layer['index'] + 1))
        x += k
        if li < len(layers) - 1:
            ax.axvline(x - 0.5, color='gray', linestyle='--', linewidth=.8)
    ax.axhline(0.0, color='black', linewidth=.6)
    ax.set_xlim(-0.5, x - 0.5)
    ax.set_xticks(ticks, labels)
    ax.set_xlabel('CBSA layer (subspaces = heads within it)')
    ax.set_ylabel(r'$\Delta R$ in the subspace (nats)')
    ax.legend(fontsize=8)
    ax.grid(alpha=.3)
    ax2.set_xlabel(r'$\Delta R$ input tokens')
    ax2.set_ylabel(r'$\Delta R$ representatives')
    ax2.grid(alpha=.3)
    if len(layers) <= 8:
        ax2.legend(fontsize=6)
    fig.suptitle(title, fontsize=9)
    _save(fig, path, 120)
