"""Coding rate of the tokens every attention layer sees (paper Fig. 5).

    python tools/analysis_tools/coding_rate.py CONFIG [CHECKPOINT] \\
        --images FOLDER_OR_FILES [...] --out-dir DIR \\
        [--eps 0.5] [--max-images N] [--device cpu] [--seed 0] [--cfg-options k=v ...] \\
        [--per-subspace]

CONFIG: any config of the plugin (ViT / CRATE / CBT / ToST / CRATECBT
encoders, CBTHead / DEPICTHead decoders, CLSAttentionProbe, or an mmpretrain
classifier built from these backbones). CHECKPOINT: an mmengine checkpoint or
a bare state dict (a backbone-only dict is loaded into ``model.backbone``),
read weights-only; without it the model's own random initialisation is
measured (seeded by --seed), and the output says so. Every weight of the
model must be in the checkpoint; checkpoint tensors the model has no place
for (e.g. a classifier's ``head.fc``) are reported and ignored.

Each image goes through the config's test pipeline (the test dataloader's,
else ``test_pipeline``; annotations dropped; a pipeline without a loading
step, as in the CIFAR configs, gets the file as an RGB array, as the
dataset would hand it) and data preprocessor, then one
forward pass (``mode='tensor'``: no sliding window, no test-time
augmentation). A forward pre-hook on every layer of the attention family
measures, for the tokens Z the layer receives (after the block's LayerNorm;
[CLS] and class embeddings included), the compression term
``Rc(Z) = sum_k R(Z U_k)`` with the layer's subspace bases U_k, and the same
on unit-norm tokens; see mmseg_cbsa/analysis/coding_rate.py for the
formula (U_k is what each layer states as its subspace bases; MHSA: the
per-head value projection).

Prints one row per attention layer (encoder layers first, then decoder
layers, in the order they run): mean and std over images. Writes to
--out-dir ``coding_rate.json`` (settings and every value, also per head and
per image), ``coding_rate.csv`` (one row per layer) and ``coding_rate.png``
(Rc and normalised Rc against the layer index, like Fig. 5). The measurement
is mmseg_cbsa.analysis.model_coding_rate.measure_coding_rate.

--per-subspace (paper Fig. 6) adds, for every CBSA layer and subspace
(head) k, the coding rate that one call of the layer removes from the tokens
and from the representatives, side by side: with W_k = Z U_k the tokens in
the subspace, Q_k the extracted representatives and b_k C_k their
contraction update, R(W_k) - R(W_k + A_k^T b_k C_k) and R(Q_k) - R(Q_k +
b_k C_k) (positive: compressed). It prints a second table and writes
``coding_rate_subspaces.csv`` (one row per layer and head),
``coding_rate_subspaces.png`` and the keys ``subspaces`` and
``subspace_correlation`` in ``coding_rate.json``. Without the flag the
outputs are the per-layer ones alone. A model without such layers (ViT,
CRATE or ToST encoders and no CBT head) ends the tool with one line, the
measurement does not apply, exit status 1.
"""
import argparse
import math
from typing import Optional, Sequence

from mmseg_cbsa.analysis.applicability import NotApplicable
from mmseg_cbsa.analysis.model_coding_rate import measure_coding_rate
from mmseg_cbsa.utils.config import add_cfg_options, check_model_args, exit_on_input_error


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint', nargs='?', help='weights; random initialisation if omitted')
    p.add_argument('--images', nargs='+', required=True, help='image files and/or folders')
    p.add_argument('--out-dir', required=True, help='where the JSON, CSV and plot go')
    p.add_argument('--eps', type=float, default=0.5, help='coding precision (default 0.5)')
    p.add_argument('--max-images', type=int, help='use at most this many images (sorted order)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--seed', type=int, default=0, help='seed of the random initialisation')
    add_cfg_options(p)
    p.add_argument(
        '--per-subspace',
        action='store_true',
        help='also the reduction per CBSA layer and subspace on tokens and '
        'representatives (Fig. 6)')
    args = p.parse_args(argv)
    check_model_args(p, args)
    if not (math.isfinite(args.eps) and args.eps > 0):
        p.error(f'--eps must be a finite number > 0, got {args.eps}')
    return args


def main(argv: Optional[Sequence[str]] = None) -> dict:
    args = parse_args(argv)
    with exit_on_input_error(NotApplicable):
        return measure_coding_rate(
            args.config,
            args.images,
            args.out_dir,
            args.checkpoint,
            eps=args.eps,
            max_images=args.max_images,
            device=args.device,
            seed=args.seed,
            cfg_options=args.cfg_options,
            per_subspace=args.per_subspace)


if __name__ == '__main__':
    main()
