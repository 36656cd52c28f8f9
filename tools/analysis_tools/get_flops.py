"""Parameters, FLOPs and attention similarity counts of configs or encoders.

    python tools/analysis_tools/get_flops.py CONFIG [CONFIG ...] [--shape H W]
    python tools/analysis_tools/get_flops.py --backbone CBT:t CRATE:t [--shape 224 224]

FLOPs are mmengine's count (one multiply-add = one FLOP) with fused
attention counted too; papers that count a multiply-add as two FLOPs report
twice these numbers. "similarities" is the number of dot-product similarities
the attention layers compute per image (paper Table 4). The report is
mmseg_cbsa.analysis.complexity.report_complexity.
"""
import argparse

from mmseg_cbsa.analysis.complexity import report_complexity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', help='mmseg configs')
    parser.add_argument(
        '--backbone',
        nargs='*',
        default=[],
        help='registered encoders as TYPE:ARCH, e.g. CBT:t CRATE:s')
    parser.add_argument(
        '--shape',
        type=int,
        nargs=2,
        default=None,
        help='input H W (default 512 512 for configs, 224 224 for encoders)')
    args = parser.parse_args()
    if not args.configs and not args.backbone:
        parser.error('give configs and/or --backbone TYPE:ARCH')
    if args.shape is not None and min(args.shape) < 1:
        parser.error(f'--shape {args.shape[0]} {args.shape[1]}: expected a height and a width of '
                     'at least 1 pixel')
    report_complexity(args.configs, args.backbone, args.shape)


if __name__ == '__main__':
    main()
