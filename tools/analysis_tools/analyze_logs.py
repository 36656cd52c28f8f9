"""Plot training curves and validation metrics from mmengine's scalar logs,
with the arguments of mmseg's tools/analysis_tools/analyze_logs.py.

    python tools/analysis_tools/analyze_logs.py WORK_DIR/<run>/vis_data/scalars.json [...]
        [--keys loss mIoU] [--legend ...] [--title T] [--backend Agg] [--out curves.png]

mmseg's tool needs seaborn (for its plot style alone), which neither mmseg nor
this project installs; this one draws with matplotlib only. Each key becomes
one curve per log against the iteration (``step``) it was logged at; a key
absent from a log is an error naming the keys the log has.
"""
import argparse
import json
from typing import Dict, List, Tuple

import matplotlib.pyplot as plt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Analyze json logs')
    parser.add_argument('json_logs', nargs='+', help='vis_data/scalars.json of a run')
    parser.add_argument('--keys', nargs='+', default=['mIoU'], help='the values to plot')
    parser.add_argument('--title', help='title of the figure')
    parser.add_argument('--legend', nargs='+', help='one label per log and key')
    parser.add_argument('--backend', help='matplotlib backend')
    parser.add_argument('--out', help='save the figure here instead of showing it')
    return parser.parse_args()


def load_scalars(path: str) -> Dict[str, List[Tuple[int, float]]]:
    """key -> [(step, value), ...] from one ``scalars.json`` (a JSON object a line)."""
    curves: Dict[str, List[Tuple[int, float]]] = {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f'{path}:{line_no}: not a JSON object ({e})') from None
            for key, value in record.items():
                if key != 'step' and isinstance(value, (int, float)):
                    curves.setdefault(key, []).append((record.get('step', 0), value))
    return curves


def main() -> None:
    args = parse_args()
    if args.backend:
        plt.switch_backend(args.backend)
    labels = args.legend or [f'{log}_{key}' for log in args.json_logs for key in args.keys]
    if len(labels) != len(args.json_logs) * len(args.keys):
        raise SystemExit(f'--legend: {len(labels)} labels for '
                         f'{len(args.json_logs) * len(args.keys)} curves')
    names = iter(labels)
    for log in args.json_logs:
        curves = load_scalars(log)
        for key in args.keys:
            if key not in curves:
                raise SystemExit(f'{log}: no {key!r}; it holds {sorted(curves)}')
            steps, values = zip(*curves[key])
            plt.plot(steps, values, label=next(names), marker='o' if len(steps) < 20 else None)
    plt.xlabel('iteration')
    plt.legend()
    if args.title:
        plt.title(args.title)
    if args.out:
        plt.savefig(args.out)
        print(f'save curve to: {args.out}')
    else:
        plt.show()


if __name__ == '__main__':
    main()
