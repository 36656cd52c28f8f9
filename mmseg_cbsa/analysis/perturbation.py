"""Gaussian noise on attention projection weights (paper Fig. 8, robustness).

The paper perturbs "the projection matrices (i.e. subspace bases)" of the
decoder's attention and plots mIoU against the noise level: a CBSA head
spans low-dimensional subspaces, which small noise on their bases barely
moves, while a black-box head (Segmenter) collapses. Neither the CBSA nor the
DEPICT repository ships the code for that figure, so the convention here is
ours (see :func:`perturb_`).

Which weights count as attention projections is decided by module type, not
by model:

* every ``nn.Linear`` weight inside a layer of this package's attention
  family (:data:`mmseg_cbsa.models.attentions.ATTENTION_TYPES`), e.g. CBSA's
  ``proj`` (the stacked subspace bases U_k) and ``to_out``, MHSA's ``qkv``
  and ``proj``; plus the bare projection matrix of layers that keep it as a
  parameter instead of a ``Linear`` (DEPICT's ``TiedMSSA.proj``);
* ``torch.nn.MultiheadAttention``'s input projection (``in_proj_weight``, or
  ``q/k/v_proj_weight`` when key and value widths differ) and
  ``out_proj.weight``; this is what mmcv's ``MultiheadAttention`` wraps and
  mmseg's ``SegmenterMaskTransformerHead`` uses.

Biases, step sizes, temperatures, gates, LayerNorms, class embeddings and the
FFN / mask projections outside attention are never touched.
"""
import math
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Sequence

import torch
from torch import Tensor, nn

from ..models.attentions import attention_type

#: Attention-family layers whose projection is a bare ``nn.Parameter``
#: rather than an ``nn.Linear`` (registered type name -> parameter names).
BARE_PROJECTIONS: Dict[str, Sequence[str]] = {'TiedMSSA': ('proj',)}

NOISE_MODES = ('relative', 'absolute')

_MHA_INPUT_PROJECTIONS = ('in_proj_weight', 'q_proj_weight', 'k_proj_weight', 'v_proj_weight')


def attention_projection_weights(model: nn.Module,
                                 prefix: str = '') -> 'OrderedDict[str, nn.Parameter]':
    """The attention projection matrices of ``model``, by parameter name.

    Args:
        model: any module (a whole segmentor, a decode head, one layer).
        prefix: prepended to the returned names (e.g. ``'decode_head.'``) so
            they match the model's ``state_dict`` keys.

    Returns:
        ``{name: parameter}`` in module definition order; each parameter once
        even when attention modules are nested. Empty when ``model`` holds
        no attention (the caller decides whether that is an error).
    """
    found: 'OrderedDict[str, nn.Parameter]' = OrderedDict()
    seen = set()  # a tied or shared weight is perturbed once

    def add(name: str, param) -> None:
        if isinstance(param, nn.Parameter) and id(param) not in seen:
            seen.add(id(param))
            found[name] = param

    for mod_name, module in model.named_modules(prefix=prefix.rstrip('.')):
        base = mod_name + '.' if mod_name else ''
        if isinstance(module, nn.MultiheadAttention):
            for pname in _MHA_INPUT_PROJECTIONS:
                add(base + pname, getattr(module, pname, None))
            add(base + 'out_proj.weight', module.out_proj.weight)
            continue
        type_name = attention_type(module)
        if type_name is None:
            continue
        for sub_name, sub in module.named_modules(prefix=mod_name):
            if isinstance(sub, nn.Linear):
                add(sub_name + '.weight', sub.weight)
        for pname in BARE_PROJECTIONS.get(type_name, ()):
            add(base + pname, getattr(module, pname))
    return found


def snapshot(params: Mapping[str, Tensor]) -> Dict[str, Tensor]:
    """Detached clones of ``params``: the clean weights to restore."""
    return {k: v.detach().clone() for k, v in params.items()}


@torch.no_grad()
def restore_(params: Mapping[str, Tensor], clean: Mapping[str, Tensor]) -> None:
    """Copy ``clean`` back into ``params`` in place (bit-identical)."""
    missing = set(params) - set(clean)
    if missing:
        raise KeyError(f'no clean copy of {sorted(missing)}')
    for name, p in params.items():
        p.copy_(clean[name])


@torch.no_grad()
def perturb_(params: Mapping[str, Tensor], sigma: float, generator: torch.Generator,
             mode: str = 'relative') -> Dict[str, float]:
    r"""Add Gaussian noise to every tensor of ``params`` in place.

    .. math:: W \leftarrow W + \sigma\, s(W)\, E, \qquad E_{ij} \sim \mathcal N(0, 1)

    with :math:`s(W) = \mathrm{rms}(W) = \sqrt{\mathrm{mean}(W^2)}` of the
    weight before the call (``mode='relative'``), so that heads with
    different initialisation or trained scales (CBSA's projections vs
    Segmenter's ``in_proj_weight``) get the same signal-to-noise ratio
    ``1/sigma``; or :math:`s(W) = 1` (``mode='absolute'``, noise of standard
    deviation sigma whatever the weight's scale).

    ``E`` is drawn on the CPU from ``generator``, tensor by tensor in the
    order of ``params``, then moved to each weight's device and dtype, so a
    seed gives the same noise on any device. ``sigma == 0`` returns without
    drawing or writing, leaving the weights bit-identical.

    Returns:
        ``{name: s(W) * sigma}``, the standard deviation of the noise added.
    """
    if mode not in NOISE_MODES:
        raise ValueError(f'noise mode must be one of {NOISE_MODES}, got {mode!r}')
    if not math.isfinite(sigma) or sigma < 0:
        raise ValueError(f'noise level must be a finite number >= 0, got {sigma}')
    stds = {}
    for name, p in params.items():
        scale = p.detach().float().pow(2).mean().sqrt().item() if mode == 'relative' else 1.0
        stds[name] = sigma * scale
        if sigma == 0:
            continue
        noise = torch.randn(p.shape, generator=generator, dtype=torch.float32)
        p.add_(noise.to(device=p.device, dtype=p.dtype), alpha=stds[name])
    return stds


def _mean_std(values: Sequence[float]) -> Dict[str, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return dict(mean=mean, std=std)


def noise_sweep(params: Mapping[str, Tensor],
                evaluate: Callable[[float, int], Mapping[str, float]],
                noise_levels: Sequence[float],
                repeats: int = 1,
                seed: int = 0,
                mode: str = 'relative') -> List[dict]:
    """Evaluate a model at several noise levels on ``params``.

    For each level sigma and each repeat r: restore the clean weights,
    :func:`perturb_` them with a generator seeded ``seed + r``, call
    ``evaluate(sigma, r)`` (e.g. a test loop returning ``{'mIoU': ...}``). Repeat r
    uses the same noise direction at every level (common random numbers), so
    one repeat's curve changes only through sigma. sigma = 0 is evaluated
    once: it is the clean model. The clean weights are restored on return,
    also after an exception.

    Returns:
        one dict per level, in the given order: ``noise``, ``values`` (a list
        of metric dicts, one per evaluation) and ``{metric: {mean, std}}`` for
        every metric ``evaluate`` returned (std: sample std over repeats).
    """
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1, got {repeats}')
    if not params:
        raise ValueError('no weights to perturb')
    clean = snapshot(params)
    results = []
    try:
        for sigma in noise_levels:
            runs = []
            for r in range(repeats if sigma > 0 else 1):
                restore_(params, clean)
                perturb_(params, sigma, torch.Generator().manual_seed(seed + r), mode)
                runs.append({k: float(v) for k, v in evaluate(sigma, r).items()})
            entry = dict(noise=float(sigma), values=runs)
            for key in runs[0]:
                entry[key] = _mean_std([run[key] for run in runs])
            results.append(entry)
    finally:
        restore_(params, clean)
    return results
