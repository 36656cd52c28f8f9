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
ROLES = {'backbone': 'encoder', 'neck': 'neck', 'decode_head': 'decoder',
         'auxiliary_head': 'auxiliary decoder'}


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
    _save(fig, path, 120)


def plot_noise_robustness(path: str, models: Sequence[dict], metric: str,
                          noise: Sequence[float], mode: str, scope: str,
                          error_bars: bool) -> None:
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
        ax.errorbar(x, y, yerr=err if error_bars else None, fmt='o-', capsize=3,
                    label=m['label'])
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


def plot_synthetic_compression(path: str, before: np.ndarray, after: np.ndarray,
                               labels: np.ndarray, rc: Sequence[float], title: str) -> None:
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
        ax.loglog([r['tokens'] for r in rows], [r['latency_ms'] for r in rows], 'o-',
                  label=label)
    ax.set_xlabel('patch tokens')
    ax.set_ylabel('median latency (ms)')
    ax.set_title(title)
    ax.grid(True, which='both', alpha=.3)
    ax.legend(fontsize=7)
    _save(fig, path, 120)


def plot_zero_shot_layers(path: str, per_layer: Mapping[str, Mapping[int, float]],
                          title: str, ids: Optional[List[int]] = None) -> None:
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
