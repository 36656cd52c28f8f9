"""What this machine offers for inference, and which precision ``auto`` picks.

    python tools/misc/hardware_report.py [--device cpu|cuda] [--json]

Prints the CPU (model, the instruction set PyTorch dispatches to, the flags
that decide the fast paths: AVX2, AVX-512, VNNI, native bf16 / fp16, AMX),
the CUDA device and its capability, the measured matrix-multiply rate of
float32, bf16 and fp16 on ``--device`` (a short measurement, under a second
on a quiet machine), and the precision ``--precision auto`` picks there, with
its reason. ``--json`` prints the same as one JSON object. It is the report
that ``tools/analysis_tools/benchmark.py`` prints above its table
(mmseg_cbsa.utils.hardware).
"""
import argparse
import json

import torch

from mmseg_cbsa.utils.hardware import describe_hardware
from mmseg_cbsa.utils.precision import AUTO_MIN_SPEEDUP, PRECISIONS, auto_precision


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__)
    p.add_argument(
        '--device',
        choices=['cpu', 'cuda'],
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='where to measure the rates and choose the precision')
    p.add_argument('--json', action='store_true', help='print one JSON object')
    args = p.parse_args()
    if args.device == 'cuda' and not torch.cuda.is_available():
        p.error('--device cuda: no CUDA device is available to PyTorch here')
    return args


def main() -> None:
    args = parse_args()
    report = describe_hardware(args.device)
    choice, why = auto_precision(args.device, report)
    if args.json:
        print(
            json.dumps(
                dict(
                    report.as_dict(),
                    native={p: report.native(p, args.device)
                            for p in PRECISIONS},
                    auto=dict(device=args.device, precision=choice, reason=why),
                    auto_min_speedup=AUTO_MIN_SPEEDUP),
                indent=1))
        return
    print('\n'.join(report.lines()))
    print(f'--precision auto on {args.device}: {why}')


if __name__ == '__main__':
    main()
