"""Parameters, FLOPs and attention similarity counts of configs or encoders.

    python tools/analysis_tools/get_flops.py CONFIG [CONFIG ...] [--shape H W]
    python tools/analysis_tools/get_flops.py --backbone CBT:t CRATE:t [--shape 224 224]

FLOPs are mmengine's count (one multiply-add = one FLOP) with fused
attention counted too; papers that count a multiply-add as two FLOPs report
twice these numbers. "similarities" is the number of dot-product similarities
the attention layers compute per image (paper Table 4).
"""
import argparse
import os.path as osp
from typing import List, Tuple

import torch
from torch import nn

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.utils.flops import count_flops, count_similarities


def _params(m: nn.Module) -> float:
    return sum(p.numel() for p in m.parameters()) / 1e6


class _Head(nn.Module):
    """Calls a decode head on a fixed tuple of feature maps."""

    def __init__(self, head: nn.Module) -> None:
        super().__init__()
        self.head = head

    def forward(self, *feats):
        return self.head(list(feats))


def _similarities(model: nn.Module, *inputs) -> float:
    """Millions of similarities, or NaN when no layer of the family ran
    (e.g. mmseg's own heads), printed as n/a."""
    if not any(hasattr(m, 'num_similarities') for m in model.modules()):
        return float('nan')
    return count_similarities(model, *inputs) / 1e6


def config_row(path: str, shape: Tuple[int, int]) -> List:
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(path)
    cfg.model.backbone.pop('init_cfg', None)
    model = MODELS.build(cfg.model).eval()
    img = torch.randn(1, 3, *shape)
    with torch.no_grad():
        feats = model.backbone(img)
    head = _Head(model.decode_head).eval()
    return [osp.splitext(osp.basename(path))[0], type(model.backbone).__name__,
            type(model.decode_head).__name__, _params(model.backbone), _params(model.decode_head),
            count_flops(model.backbone, img) / 1e9, count_flops(head, *feats) / 1e9,
            _similarities(head, *feats)]


def backbone_row(spec: str, shape: Tuple[int, int]) -> List:
    from mmseg.registry import MODELS
    name, _, arch = spec.partition(':')
    model = MODELS.get(name)(arch=arch or 's', img_size=shape).eval()
    img = torch.randn(1, 3, *shape)
    return [spec, name, '-', _params(model), 0.0, count_flops(model, img) / 1e9, 0.0,
            _similarities(model, img)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('configs', nargs='*', help='mmseg configs')
    parser.add_argument('--backbone', nargs='*', default=[],
                        help='registered encoders as TYPE:ARCH, e.g. CBT:t CRATE:s')
    parser.add_argument('--shape', type=int, nargs=2, default=None,
                        help='input H W (default 512 512 for configs, 224 224 for encoders)')
    args = parser.parse_args()
    if not args.configs and not args.backbone:
        parser.error('give configs and/or --backbone TYPE:ARCH')
    rows = [config_row(c, tuple(args.shape or (512, 512))) for c in args.configs]
    rows += [backbone_row(b, tuple(args.shape or (224, 224))) for b in args.backbone]
    header = ['model', 'encoder', 'decoder', 'enc params (M)', 'dec params (M)',
              'enc GFLOPs', 'dec GFLOPs', 'similarities (M)']
    table = [header] + [r[:3] + ['n/a' if v != v else f'{v:.2f}' if i < 2 else f'{v:.3f}'
                                  for i, v in enumerate(r[3:])] for r in rows]
    widths = [max(len(str(r[i])) for r in table) for i in range(len(header))]
    for n, r in enumerate(table):
        print('| ' + ' | '.join(str(c).ljust(w) for c, w in zip(r, widths)) + ' |')
        if n == 0:
            print('|' + '|'.join('-' * (w + 2) for w in widths) + '|')


if __name__ == '__main__':
    main()
