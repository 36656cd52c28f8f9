"""Rank of CBSA's extraction matrix per layer and head (paper Appendix A).

    python tools/analysis_tools/rep_rank.py CONFIG [CHECKPOINT] \\
        --img-dir FOLDER_OR_FILES [...] --out-dir DIR \\
        [--rtol R] [--max-images N] [--device cpu] [--seed 0] [--cfg-options k=v ...]

CONFIG: any config of the plugin whose model holds CBSA-family layers (CBT /
CRATECBT encoders, CBTHead decoders, with pooled or learned representatives:
``attn_cfg=dict(type='CBSA', rep_init='learned')``): segmentors, image
classifiers and the zero-shot [CLS] probe alike; for a model without such
layers (ViT, CRATE or ToST encoders and no CBT head) the tool ends with one
line, the measurement does not apply, exit status 1. CHECKPOINT: as for
tools/analysis_tools/coding_rate.py (weights-only; without it the random
initialisation is measured, seeded by --seed, and the output says so).

Each image goes through the config's test pipeline and one forward pass;
the extraction matrix A = softmax(Q_0 W^T / sqrt(p)) (m x N) of every call
of every CBSA layer is read through the layer's attention hook. Its
singular values (float64) give the numerical rank at the relative tolerance
--rtol (default max(m, N) * eps of A's dtype, reported), the effective rank
exp(entropy of the normalised spectrum) and the stable rank
||A||_F^2 / ||A||_2^2; see mmseg_cbsa/analysis/rep_rank.py.

Prints one row per CBSA layer (per-head means over images) and writes to
--out-dir ``rep_rank.json`` (settings and every value, per image and head)
and ``rep_rank.png`` (rank / m and effective rank / m per layer and head).
"""
import argparse
import math
from typing import Optional, Sequence

from mmseg_cbsa.analysis.applicability import NotApplicable
from mmseg_cbsa.analysis.rep_rank import measure_rep_rank
from mmseg_cbsa.utils.config import add_cfg_options, check_model_args, exit_on_input_error


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', help='weights; random initialisation if omitted')
    p.add_argument(
        '--img-dir',
        '--images',
        dest='images',
        nargs='+',
        required=True,
        help='image folders and/or files')
    p.add_argument('--out-dir', required=True, help='where the JSON and the plot go')
    p.add_argument(
        '--rtol', type=float, help='relative tolerance of the rank (default max(m, N) * eps of A)')
    p.add_argument('--max-images', type=int, help='use at most this many images (sorted order)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--seed', type=int, default=0, help='seed of the random initialisation')
    add_cfg_options(p)
    args = p.parse_args(argv)
    check_model_args(p, args)
    if args.rtol is not None and not (math.isfinite(args.rtol) and 0 < args.rtol < 1):
        p.error(f'--rtol must be in (0, 1), got {args.rtol}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    with exit_on_input_error(NotApplicable):
        return measure_rep_rank(
            args.config,
            args.images,
            args.out_dir,
            args.checkpoint,
            rtol=args.rtol,
            max_images=args.max_images,
            device=args.device,
            seed=args.seed,
            cfg_options=args.cfg_options)


if __name__ == '__main__':
    main()
