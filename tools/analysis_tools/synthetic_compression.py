"""Iterate the linear attention variant on synthetic 3-D data (paper Fig. 4).

    python tools/analysis_tools/synthetic_compression.py --out-dir DIR \\
        [--num-points 600] [--num-subspaces 3] [--iters 30] [--eps 0.5] \\
        [--step 0.1] [--stds 1.0 0.4 0.1] [--seed 0]

Data: ``--num-points`` tokens in R^3 from a mixture of ``--num-subspaces``
zero-mean anisotropic Gaussians, each with its own random orientation and
standard deviations ``--stds`` along its axes (a noisy sample of a plane
through the origin, flattest along the last axis).

Dynamics: as in the paper, the operator runs on each class (mixture
component) separately, in the ambient space (bases U = I, so nothing is
learned) and forward only. Per class, with ``c = 3 / (N_k eps^2)``, one
iteration is the gradient-descent step on the coding rate

    Z_k <- Z_k - step * Z_k (I + c Z_k^T Z_k)^-1      (= Z_k - (step/c) grad R(Z_k))

i.e. the linear variant ``W g(W^T W)`` (eq. 12, computed through its
principal directions by ``coding_rate_shrinkage``) with a negative step.
It keeps each class's principal directions and scales direction i by
``1 - step / (1 + c lambda_i)``: directions of small variance shrink by about
``1 - step`` per iteration, those of large variance barely move, so every
class collapses onto its principal line and the data onto a union of 1-D
subspaces. With 0 < step < 1 every factor lies in (0, 1), so the
compression term ``Rc = sum_k R(Z_k)`` decreases at every iteration.

Time scale: while ``c lambda >> 1`` a direction loses about ``2 step / c`` of
its second moment per iteration, so a direction of standard deviation s
vanishes after about ``s^2 d / (2 step eps^2)`` iterations, whatever N
(d = 3). With the defaults that is 60 iterations for the principal axis,
about 10 for the second and 1 for the third: at 30 iterations each
component is a line, still at about half its initial extent. Far beyond
the principal axis's time every class shrinks to the origin (there is no
expansion term here, unlike MCR^2).

Writes to --out-dir ``synthetic_compression.json`` (settings; per iteration
Rc, the per-class rates and R of all tokens; per class the share of the
second moment on the principal direction, before and after) and
``synthetic_compression.png`` (3-D scatter before / after, coloured by
component, and Rc against the iteration); prints Rc per iteration. The
experiment is mmseg_cbsa.analysis.synthetic.run_synthetic_compression.
"""
import argparse
import math
from typing import Optional, Sequence

from mmseg_cbsa.analysis.synthetic import run_synthetic_compression


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out-dir', required=True, help='where the JSON and the plot go')
    p.add_argument('--num-points', type=int, default=600, help='tokens in all (default 600)')
    p.add_argument('--num-subspaces', type=int, default=3, help='mixture components K')
    p.add_argument('--iters', type=int, default=30, help='iterations of the operator')
    p.add_argument('--eps', type=float, default=0.5, help='coding precision (default 0.5)')
    p.add_argument('--step', type=float, default=0.1, help='step tau in (0, 1) (default 0.1)')
    p.add_argument(
        '--stds',
        type=float,
        nargs='+',
        default=[1.0, 0.4, 0.1],
        help='standard deviations along each component\'s axes; their number is '
        'the dimension (3 for a 3-D plot)')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    if args.num_subspaces < 1 or args.num_points < 2 * args.num_subspaces:
        p.error(f'need --num-subspaces >= 1 and at least 2 points per subspace, got '
                f'{args.num_points} points for {args.num_subspaces} subspaces')
    if args.iters < 1:
        p.error(f'--iters must be >= 1, got {args.iters}')
    if not (math.isfinite(args.eps) and args.eps > 0):
        p.error(f'--eps must be a finite number > 0, got {args.eps}')
    if not 0 < args.step < 1:
        p.error(f'--step must be in (0, 1), got {args.step}')
    if len(args.stds) != 3 or any(not (s > 0) for s in args.stds):
        p.error(f'--stds needs three positive values (3-D data), got {args.stds}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    return run_synthetic_compression(args.out_dir, args.num_points, args.num_subspaces, args.iters,
                                     args.eps, args.step, args.stds, args.seed)


if __name__ == '__main__':
    main()
