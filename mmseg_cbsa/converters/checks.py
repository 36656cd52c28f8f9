"""What every converter checks before it writes anything.

A source checkpoint is read, not trusted: a tensor or a whole block missing,
or a tensor of the wrong shape, would otherwise be renamed into a file that
only the first load refuses. Two checks, both refusing with a
:class:`ConversionError` that names the file, the keys and the shapes:

* the source against itself, in its own key names, before the architecture
  is read off it: every block of a stack present (:func:`check_blocks`), each
  holding the tensors and shapes of its siblings, the tensors the
  architecture is read from present (:func:`require`), the position grid
  told by the position embedding (:func:`patch_grid`);
* the converted tensors against the model of the config the converter
  prints (:func:`check_model_fit`): the very model is built from that config
  and the tensors must load into it strictly (the project's fit rule,
  :func:`~mmseg_cbsa.utils.checkpoint_fit.dry_fit`), so the printed config
  never refuses the written file.
"""
import math
import re
from collections import Counter
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union

from mmengine.registry import Registry
from torch import Tensor, nn

from ..registry import MODELS, build_in_scope
from ..utils.checkpoint import CheckpointError
from ..utils.checkpoint_fit import dry_fit

#: how many problems a message lists
_SHOWN = 6


class ConversionError(CheckpointError, KeyError):
    """A source checkpoint a converter refuses. The message names the file,
    the keys and, for shapes, what was expected and what was found.

    A :class:`~mmseg_cbsa.utils.CheckpointError` (a ValueError), and a
    KeyError as the converters' refusals always were."""

    def __str__(self) -> str:
        # KeyError's own __str__ quotes its argument (it is meant for a key)
        return str(self.args[0]) if self.args else ''


def shape_of(tensor: Tensor) -> str:
    """``[d0, d1, ...]``: how messages write a shape (as torch's own fit
    errors do, so that every message reads alike)."""
    return str(list(tensor.shape))


def refuse(src: str, problems: Sequence[str], what: Optional[str] = None) -> None:
    """Raise a :class:`ConversionError` ``'{src}: [{what}: ]p1; p2; ...'``
    listing the first problems, if there are any."""
    if problems:
        more = f'; ... ({len(problems) - _SHOWN} more)' if len(problems) > _SHOWN else ''
        head = f'{src}: {what}: ' if what else f'{src}: '
        raise ConversionError(head + '; '.join(problems[:_SHOWN]) + more)


def require(src: str,
            state: Mapping[str, Tensor],
            key: str,
            ndim: Optional[int] = None,
            shown: str = '') -> Tensor:
    """``state[key]``, a tensor an architecture is read from.

    Args:
        shown: the prefix ``state``'s keys have in the file (e.g.
            ``'decoder.'``), for the message.

    Raises:
        ConversionError: the tensor is missing, or has not ``ndim`` dims.
    """
    if key not in state:
        refuse(src, [f'{shown}{key} is missing'])
    tensor = state[key]
    if ndim is not None and tensor.ndim != ndim:
        refuse(src, [f'{shown}{key} has shape {shape_of(tensor)}, expected {ndim} dims'])
    return tensor


def split_blocks(state: Mapping[str, Tensor], prefix: str) -> Dict[int, Dict[str, Tensor]]:
    """``{i: {rest: tensor}}`` for the keys ``{prefix}{i}.{rest}``."""
    pattern = re.compile(re.escape(prefix) + r'(\d+)\.(.+)')
    blocks: Dict[int, Dict[str, Tensor]] = {}
    for key, tensor in state.items():
        found = pattern.fullmatch(key)
        if found:
            blocks.setdefault(int(found.group(1)), {})[found.group(2)] = tensor
    return dict(sorted(blocks.items()))


def check_blocks(src: str,
                 state: Mapping[str, Tensor],
                 prefix: str,
                 kind_of: Optional[Callable[[Set[str]], Optional[str]]] = None,
                 shown: str = '') -> List[str]:
    """Check the stack of blocks ``{prefix}{i}.*`` of a source.

    Checked: the blocks are numbered 0 to n - 1 with none absent (an absent
    last block cannot be told from a shallower model); each block holds the
    tensors every other block of its kind holds, with the shape most of them
    have. Blocks of one kind hold the same tensors: a stack of one kind
    (``kind_of=None``), or the attention families of a hybrid stack.

    Args:
        kind_of: a block's kind from the names (after ``{prefix}{i}.``) of
            its tensors, None when they are of no known kind.
        shown: the prefix ``state``'s keys have in the file, for messages.

    Returns:
        The kind of each block (``''`` without ``kind_of``); its length is the
        depth, 0 when ``state`` has no such key.

    Raises:
        ConversionError: naming each absent block, missing or mis-shaped
            tensor by its key in the file, with the expected shape.
    """
    blocks = split_blocks(state, prefix)
    if not blocks:
        return []
    depth = max(blocks) + 1
    name = f'{shown}{prefix}'
    problems = [
        f'{name}{i}.* is absent (the file holds {name}0.* to {name}{depth - 1}.*)'
        for i in range(depth) if i not in blocks
    ]
    kinds: Dict[int, Optional[str]] = {
        i: kind_of(set(block)) if kind_of else ''
        for i, block in blocks.items()
    }
    for i, kind in kinds.items():
        if kind is None:
            problems.append(f'{name}{i}.* is of no known kind: it holds {sorted(blocks[i])}')
    for kind in dict.fromkeys(k for k in kinds.values() if k is not None):
        members = [i for i in blocks if kinds[i] == kind]
        tensors = dict.fromkeys(t for i in members for t in blocks[i])
        for tensor in tensors:
            holders = [i for i in members if tensor in blocks[i]]
            # the shape most blocks agree on is the expected one; without a
            # majority, the message cannot tell which block is wrong
            shapes = Counter(tuple(blocks[i][tensor].shape) for i in holders).most_common()
            expected = shapes[0][0]
            ref = next(i for i in holders if tuple(blocks[i][tensor].shape) == expected)
            if len(shapes) > 1 and shapes[0][1] == shapes[1][1]:
                problems.append(f'the blocks disagree on the shape of {name}*.{tensor}: ' +
                                ', '.join(f'{name}{i}.{tensor} {shape_of(blocks[i][tensor])}'
                                          for i in holders))
                expected = None
            for i in members:
                if tensor not in blocks[i]:
                    problems.append(f'{name}{i}.{tensor} is missing (shape '
                                    f'{shape_of(blocks[ref][tensor])} in {name}{ref}.{tensor})')
                elif expected is not None and tuple(blocks[i][tensor].shape) != expected:
                    problems.append(f'{name}{i}.{tensor} has shape {shape_of(blocks[i][tensor])}, '
                                    f'expected {list(expected)} as in {name}{ref}.{tensor}')
    refuse(src, problems)
    return [kinds.get(i) or '' for i in range(depth)]


def patch_grid(src: str,
               pos_embed: Tensor,
               grid: Optional[Sequence[int]] = None,
               shown: str = 'pos_embed',
               prefix_tokens: int = 1) -> Tuple[int, int]:
    """The (h, w) patch grid a position embedding (1, prefix + h*w, d) is
    laid out for: ``grid`` when given, else the square one. A count of
    positions that is not a square is refused: the file does not store the
    grid, and a guess would print a config that refuses the file.

    Raises:
        ConversionError: the embedding is not 3-D, ``grid`` does not give its
            number of positions, or it is not square and no ``grid`` is given;
            the message names the shape and what to pass.
    """
    if pos_embed.ndim != 3:
        refuse(src, [
            f'{shown} has shape {shape_of(pos_embed)}, expected (1, {prefix_tokens} + '
            'patch positions, width)'
        ])
    n = pos_embed.shape[1] - prefix_tokens
    if grid is not None:
        h, w = grid
        if h <= 0 or w <= 0 or h * w != n:
            refuse(src, [
                f'--grid {h} {w} gives {h * w} patch positions, but {shown} (shape '
                f'{shape_of(pos_embed)}) holds {n}'
            ])
        return h, w
    side = math.isqrt(max(n, 0))
    if n <= 0 or side * side != n:
        pairs = ', '.join(f'{h} {n // h}' for h in range(1, n + 1) if n % h == 0)
        # timm's no_embed_class: a square grid of positions and none for [CLS]
        total = math.isqrt(pos_embed.shape[1])
        hint = (f' (or is it a {total}x{total} grid without a position for [CLS], as timm\'s '
                "no_embed_class lays it out? This project's ViT has one.)" if total *
                total == pos_embed.shape[1] else '')
        refuse(src, [
            f'{shown} has shape {shape_of(pos_embed)}: {n} patch positions, not a square grid, '
            'and the file does not store which grid it is; pass --grid H W '
            f'(grid=(H, W) in Python) with H * W = {n}: one of {pairs or "none"}{hint}'
        ])
    return side, side


def image_size(grid: Tuple[int, int], patch_size: int) -> Union[int, Tuple[int, int]]:
    """The ``img_size`` of a backbone config for a patch grid: an int for a
    square grid (as the configs write it), else (height, width)."""
    h, w = grid
    return h * patch_size if h == w else (h * patch_size, w * patch_size)


def build_inferred(src: str, cfg: dict, registry: Registry = MODELS) -> nn.Module:
    """Build the model ``cfg`` describes (in the ``mmseg_cbsa`` scope); a
    config read off a source that cannot be built is refused."""
    try:
        return build_in_scope(registry, cfg)
    except Exception as e:  # constructors refuse bad settings with any type
        raise ConversionError(f'{src}: the model read off the file cannot be built '
                              f'({type(e).__name__}: {e}); config: {cfg}') from e


def classifier_model(src: str, backbone: dict, num_classes: Optional[int]) -> nn.Module:
    """mmpretrain's ``ImageClassifier`` on ``backbone`` with the
    ``LinearClsHead(num_classes, in_channels=width)`` the classifier
    converters print (no head when ``num_classes`` is None)."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS as PRETRAIN_MODELS

    cfg = dict(type='ImageClassifier', backbone=backbone)
    if num_classes is not None:
        cfg['head'] = dict(
            type='LinearClsHead', num_classes=num_classes, in_channels=backbone['arch'][0])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return build_inferred(src, {'_scope_': 'mmpretrain', **cfg}, PRETRAIN_MODELS)


def check_classifier_fit(src: str,
                         converted: Mapping[str, Tensor],
                         backbone: dict,
                         num_classes: Optional[int],
                         source: Optional[Mapping[str, Tensor]] = None) -> None:
    """:func:`check_model_fit` against the :func:`classifier_model` of
    ``backbone`` and ``num_classes`` (what the classifier converters print)."""
    head = f'{num_classes} classes' if num_classes is not None else 'no head'
    check_model_fit(
        src, converted, classifier_model(src, backbone, num_classes),
        f'the ImageClassifier read off it ({backbone["type"]}, arch {backbone["arch"]}, {head})',
        source)


def check_model_fit(src: str,
                    converted: Mapping[str, Tensor],
                    model: nn.Module,
                    described: str,
                    source: Optional[Mapping[str, Tensor]] = None) -> None:
    """Refuse ``converted`` unless it loads strictly into ``model``.

    Checked as every load of the project checks (the model's own loading
    hooks run, on a meta-device shadow: nothing is copied): every weight of
    the model set, every tensor used, every shape right.

    Args:
        model: built from the config the converter returns and prints.
        described: what ``model`` is, for the message.
        source: the source state dict: a converted tensor is the source's
            tensor object, so the message can give its key in the file.

    Raises:
        ConversionError: naming each missing, unexpected or mis-shaped key,
            with the expected and the found shapes.
    """
    report = dry_fit(model, converted)
    origin = {id(t): k for k, t in (source or {}).items()}

    def named(key: str) -> str:
        from_key = origin.get(id(converted[key]))
        return key if from_key in (None, key) else f'{key} (from {from_key})'

    expected = model.state_dict()
    problems = [
        f'{named(k)} has shape {found}, expected {shape}' for k, found, shape in report.mismatched
    ]
    problems += [
        f'{k} (shape {shape_of(expected[k])}) is missing: no tensor of the file maps to it'
        for k in report.missing
    ]
    problems += [f'{named(k)} has no place in it' for k in report.unexpected]
    problems += list(report.errors)
    refuse(src, problems, f'the converted tensors do not fit {described}')


__all__ = [
    'ConversionError', 'build_inferred', 'check_blocks', 'check_classifier_fit', 'check_model_fit',
    'classifier_model', 'image_size', 'patch_grid', 'refuse', 'require', 'shape_of', 'split_blocks'
]
