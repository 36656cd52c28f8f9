"""Plot training curves and validation metrics from mmengine's scalar logs,
with the arguments of mmseg's tools/analysis_tools/analyze_logs.py.

    python tools/analysis_tools/analyze_logs.py WORK_DIR [WORK_DIR/<run>/vis_data/scalars.json ...]
        [--keys loss mIoU] [--legend ...] [--title T] [--backend Agg] [--out curves.png]

Each argument is a run's ``vis_data/scalars.json`` (mmengine's
``LocalVisBackend`` appends one JSON object per logged step), a run folder
(``WORK_DIR/<timestamp>/``) or a work dir, which stands for each of its runs.
A work dir also holds the runs that were interrupted: those without a
``scalars.json`` (stopped before their first log line) or with nothing in it
are reported and skipped; a run without one of the keys (stopped before its
first validation) is plotted without that curve. Each key gets its own panel,
one curve per run, against the iteration (``step``) it was logged at; curves
are named after the run folders. A key no run has is an error naming the keys
the runs hold.

mmseg's tool needs seaborn (for its plot style alone), which neither mmseg nor
this project installs; this one draws with matplotlib only.
"""
import argparse
import glob
import json
import os.path as osp
import sys
from typing import Dict, List, NamedTuple, Optional, Tuple

from mmseg_cbsa.utils.outputs import OutputExistsError, check_new_file

SCALARS = osp.join('vis_data', 'scalars.json')


class Run(NamedTuple):
    """One run's log: ``name`` (its folder), ``path`` (its scalars.json, or
    None when the run has none) and ``work_dir`` (the folder holding the run)."""
    name: str
    path: Optional[str]
    work_dir: str


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyze json logs')
    parser.add_argument(
        'json_logs',
        nargs='+',
        help='vis_data/scalars.json of a run, a run folder, or a work dir (all its runs)')
    parser.add_argument('--keys', nargs='+', default=['mIoU'], help='the values to plot')
    parser.add_argument('--title', help='title of the figure')
    parser.add_argument(
        '--legend', nargs='+', help='one label per run (default: the run folders\' names)')
    parser.add_argument('--backend', help='matplotlib backend')
    parser.add_argument('--out', help='save the figure here instead of showing it')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing --out')
    return parser.parse_args()


def _file_run(scalars: str) -> Run:
    """The run of ``.../<work dir>/<run>/vis_data/scalars.json`` (named by
    its path when it lies elsewhere)."""
    vis_data = osp.dirname(osp.abspath(scalars))
    if osp.basename(vis_data) != 'vis_data':
        return Run(scalars, scalars, osp.dirname(osp.abspath(scalars)))
    return _folder_run(osp.dirname(vis_data))


def _folder_run(folder: str) -> Run:
    folder = osp.abspath(folder)
    scalars = osp.join(folder, SCALARS)
    return Run(osp.basename(folder), scalars if osp.isfile(scalars) else None, osp.dirname(folder))


def _is_run(folder: str) -> bool:
    """mmengine's run folder: ``<timestamp>/<timestamp>.log`` or ``vis_data/``."""
    name = osp.basename(osp.normpath(folder))
    return osp.isfile(osp.join(folder, f'{name}.log')) or osp.isdir(osp.join(folder, 'vis_data'))


def find_runs(paths: List[str]) -> List[Run]:
    """The runs the command line names, in its order (a work dir's runs sorted).

    Raises:
        FileNotFoundError: a path that does not exist (also a shell pattern
            that matched nothing and reached us as written), or a folder with
            no runs.
    """
    runs = []
    for path in paths:
        if osp.isfile(path):
            runs.append(_file_run(path))
        elif osp.isdir(path) and _is_run(path):
            runs.append(_folder_run(path))
        elif osp.isdir(path):
            folders = sorted(f for f in glob.glob(osp.join(glob.escape(path), '*')) if _is_run(f))
            if not folders:
                raise FileNotFoundError(f'{path}: no runs in it (no <run>/vis_data/ or '
                                        '<run>/<run>.log); give a work dir, a run or a '
                                        'scalars.json')
            runs += find_runs(folders)
        else:
            hint = (' (a shell pattern that matched nothing? pass the work dir itself)'
                    if glob.has_magic(path) else '')
            raise FileNotFoundError(f'{path}: no such file or folder{hint}')
    return runs


def load_scalars(path: str) -> Dict[str, List[Tuple[int, float]]]:
    """key -> [(step, value), ...] from one ``scalars.json`` (a JSON object a
    line). A last line cut short (a run killed while writing it) is left out.

    Raises:
        ValueError: a line before the last is not a JSON object.
    """
    curves: Dict[str, List[Tuple[int, float]]] = {}
    with open(path) as f:
        lines = f.read().split('\n')
    numbered = [(i, line) for i, line in enumerate(lines, 1) if line.strip()]
    for n, (line_no, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            if n == len(numbered) - 1:
                break
            raise ValueError(f'{path}:{line_no}: not a JSON object ({e})') from None
        for key, value in record.items():
            if key != 'step' and isinstance(value, (int, float)):
                curves.setdefault(key, []).append((record.get('step', 0), value))
    return curves


def load_runs(runs: List[Run], keys: List[str]) -> Tuple[Dict[str, dict], List[str]]:
    """The runs' curves, and one line per run or curve left out and why.

    Returns:
        ({run name: {key: [(step, value), ...]}} for the runs with at least
        one of ``keys``, the notes).

    Raises:
        ValueError: no run logged anything, or a key no run has (naming the
            keys they hold).
    """
    loaded, notes, held = {}, [], set()
    for run in runs:
        if run.path is None:
            notes.append(f'skipped {run.name}: no {SCALARS} (interrupted before its first '
                         'log line)')
            continue
        curves = load_scalars(run.path)
        held.update(curves)
        if not curves:
            notes.append(f'skipped {run.name}: {run.path} holds no values (interrupted before '
                         'its first log line)')
            continue
        missing = [k for k in keys if k not in curves]
        if len(missing) < len(keys):
            loaded[run.name] = {k: curves[k] for k in keys if k in curves}
        for key in missing:
            notes.append(f'{run.name}: no {key!r} in {run.path} (interrupted before it was '
                         f'first logged?); it holds {sorted(curves)}')
    if not held:
        raise ValueError('no run has logged anything yet: ' + '; '.join(notes))
    absent = [k for k in keys if not any(k in c for c in loaded.values())]
    if absent:
        where = runs[0].path if len(runs) == 1 else f'any of the {len(runs)} runs'
        raise ValueError(f'{where}: no {absent[0]!r}; it holds {sorted(held)}')
    return loaded, notes


def _unique_names(runs: List[Run]) -> List[Run]:
    """Runs of several work dirs are named ``<work dir>/<run>`` (the work
    dir's own name, usually the config's), and by their whole path where
    that is not enough."""
    if len({r.work_dir for r in runs}) > 1:
        runs = [r._replace(name=f'{osp.basename(r.work_dir)}/{r.name}') for r in runs]
    names = [r.name for r in runs]
    return [
        r._replace(name=osp.join(r.work_dir, r.name)) if names.count(r.name) > 1 else r
        for r in runs
    ]


def plot(loaded: Dict[str, dict], keys: List[str], labels: Dict[str, str], title: Optional[str]):
    """One panel per key (shared iteration axis), one curve per run in one
    colour throughout, each panel with a legend of ``labels[run]``."""
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(
        len(keys), 1, sharex=True, figsize=(6.4, max(4.8, 2.4 * len(keys))), squeeze=False)
    for ax, key in zip(axes[:, 0], keys):
        for i, (run, curves) in enumerate(loaded.items()):
            if key in curves:  # a run keeps its colour in every panel
                steps, values = zip(*curves[key])
                ax.plot(
                    steps,
                    values,
                    color=f'C{i % 10}',
                    label=labels[run],
                    marker='o' if len(steps) < 20 else None)
        ax.set_ylabel(key)
        ax.grid(alpha=.3)
        ax.legend(fontsize=8)
    axes[-1, 0].set_xlabel('iteration')
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def main() -> None:
    args = parse_args()
    import matplotlib.pyplot as plt
    if args.backend:
        plt.switch_backend(args.backend)
    try:
        if args.out:
            check_new_file(args.out, args.overwrite, '--out')
        runs = _unique_names(find_runs(args.json_logs))
        if args.legend and len(args.legend) != len(runs):
            raise ValueError(f'--legend: {len(args.legend)} labels for {len(runs)} runs '
                             f'({", ".join(r.name for r in runs)})')
        labels = dict(zip((r.name for r in runs), args.legend or (r.name for r in runs)))
        loaded, notes = load_runs(runs, args.keys)
    except (FileNotFoundError, OutputExistsError, ValueError) as e:
        sys.exit(f'error: {e}')
    for note in notes:
        print(note, file=sys.stderr)
    fig = plot(loaded, args.keys, labels, args.title)
    if args.out:
        fig.savefig(args.out)
        print(f'save curve to: {args.out}')
    else:
        plt.show()


if __name__ == '__main__':
    main()
