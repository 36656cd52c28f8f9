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
component, and Rc against the iteration); prints Rc per iteration.
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import Optional, Sequence

import torch

from mmseg_cbsa.evaluation.coding_rate import (class_coding_rates, coding_rate,
                                               compress_per_class, principal_share,
                                               synthetic_subspace_mixture)

OUTPUTS = ('synthetic_compression.json', 'synthetic_compression.png')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--out-dir', required=True, help='where the JSON and the plot go')
    p.add_argument('--num-points', type=int, default=600, help='tokens in all (default 600)')
    p.add_argument('--num-subspaces', type=int, default=3, help='mixture components K')
    p.add_argument('--iters', type=int, default=30, help='iterations of the operator')
    p.add_argument('--eps', type=float, default=0.5, help='coding precision (default 0.5)')
    p.add_argument('--step', type=float, default=0.1, help='step tau in (0, 1) (default 0.1)')
    p.add_argument('--stds', type=float, nargs='+', default=[1.0, 0.4, 0.1],
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


def plot(path: str, before: torch.Tensor, after: torch.Tensor, labels: torch.Tensor,
         rc: Sequence[float], title: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(14, 4.6))
    panels = ((before, 'before'), (after, f'after {len(rc) - 1} iterations'))
    for i, (pts, name) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1, projection='3d')
        for k in labels.unique().tolist():
            sel = pts[labels == k].numpy()
            ax.scatter(sel[:, 0], sel[:, 1], sel[:, 2], s=4, color=f'C{k}', label=f'component {k}')
        # equal axes so that lines look like lines; each panel at its own scale
        # since the operator also shrinks the principal directions, only slower
        half = float(pts.abs().max())
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    z, labels, rotations = synthetic_subspace_mixture(args.num_points, args.num_subspaces,
                                                      args.stds, args.seed)
    start = z
    per_class, total = [class_coding_rates(z, labels, args.eps)], [coding_rate(z, args.eps)]
    for _ in range(args.iters):
        z = compress_per_class(z, labels, args.eps, args.step)
        per_class.append(class_coding_rates(z, labels, args.eps))
        total.append(coding_rate(z, args.eps))
    rc = [float(r.sum()) for r in per_class]

    share = {when: [principal_share(pts[labels == k]) for k in range(args.num_subspaces)]
             for when, pts in (('before', start), ('after', z))}
    result = dict(
        settings=dict(num_points=args.num_points, num_subspaces=args.num_subspaces,
                      iters=args.iters, eps=args.eps, step=args.step, stds=args.stds,
                      seed=args.seed),
        update='per class k: Z_k <- Z_k - step * Z_k (I + c Z_k^T Z_k)^-1, c = d/(N_k eps^2)',
        Rc=rc, R_per_class=[r.tolist() for r in per_class], R_all=[float(r) for r in total],
        principal_share=share, initial_axes=rotations[:, :, 0].tolist())

    os.makedirs(args.out_dir, exist_ok=True)
    json_path, png_path = (osp.join(args.out_dir, f) for f in OUTPUTS)
    with open(json_path, 'w') as f:
        json.dump(result, f, indent=1)
    plot(png_path, start, z, labels, rc,
         f'linear variant per component: K={args.num_subspaces}, N={args.num_points}, '
         f'eps={args.eps:g}, step={args.step:g}, seed={args.seed}')

    print('iteration | Rc = sum_k R(Z_k) | R(Z)')
    for i, (a, b) in enumerate(zip(rc, result['R_all'])):
        print(f'{i:9d} | {a:17.4f} | {b:.4f}')
    print('share of the second moment on the principal direction per component: '
          f"before {[round(s, 3) for s in share['before']]}, "
          f"after {[round(s, 3) for s in share['after']]}")
    print(f'wrote {json_path} and {png_path}')
    return result


if __name__ == '__main__':
    main()
