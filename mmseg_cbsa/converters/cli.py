"""The command line shared by ``tools/model_converters``.

``SRC DST [--grid H W] [--overwrite]``: SRC is read weights-only, converted
(and checked: :mod:`.checks`), and only then saved atomically as DST. A
refused conversion ends in one ``error: ...`` line naming the file and what
was expected (exit status 1, no traceback) and writes nothing.
"""
import argparse
from typing import Any, Callable, Dict, Sequence, Tuple

import torch
from torch import Tensor

from ..utils.checkpoint import extract_state_dict, load_checkpoint_file, save_checkpoint_file
from .checks import ConversionError

#: ``convert(state, src, grid=...)`` -> (converted state dict, info to report)
Converter = Callable[..., Tuple[Dict[str, Tensor], dict]]


def converter_parser(doc: str, src_help: str = 'checkpoint to convert') -> argparse.ArgumentParser:
    """The arguments every converter takes: SRC, DST, ``--grid``, ``--overwrite``
    (a tool adds its own)."""
    parser = argparse.ArgumentParser(
        description=doc.strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc)
    parser.add_argument('src', help=src_help)
    parser.add_argument('dst', help='output checkpoint for this project')
    parser.add_argument(
        '--grid',
        type=int,
        nargs=2,
        metavar=('H', 'W'),
        help='patch grid of a position embedding that is not square (the file does not store '
        'it); a square one is read off the embedding')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    return parser


def convert_file(
    args: argparse.Namespace,
    name: str,
    convert: Callable[[Dict[str, Tensor]], Tuple[Dict[str, Tensor], Any]],
    safe_types: Sequence[Any] = ()
) -> Any:
    """Read ``args.src``, ``convert`` its state dict, save ``args.dst``.

    Args:
        safe_types: globals the source's training script pickles beside its
            tensors (e.g. DeiT's ``argparse.Namespace`` of options), allowed
            for this read on top of the project's allow-list; the read stays
            weights-only, everything else is still refused.

    Returns:
        what ``convert`` returned beside the state dict (the tool reports it).

    Raises:
        SystemExit: ``error: <message>`` (exit status 1) when the source is
            unreadable or refused, or DST cannot be written; nothing is
            written then.
    """
    try:
        try:
            with torch.serialization.safe_globals(list(safe_types)):
                ckpt = load_checkpoint_file(args.src)
            state = extract_state_dict(ckpt, args.src)
        except (KeyError, TypeError) as e:  # no state dict in the file: the message names it
            raise ConversionError(e.args[0] if e.args else str(e)) from e
        converted, info = convert(state)
        save_checkpoint_file(
            converted,
            args.dst,
            overwrite=args.overwrite,
            meta=dict(source=args.src, converter=name, info=str(info)))
    # refusals (ConversionError and unreadable files are CheckpointErrors,
    # so ValueErrors, as are bad option values); missing SRC, existing DST
    except (ValueError, OSError) as e:
        raise SystemExit(f'error: {e}') from None
    print(f'wrote {len(converted)} tensors to {args.dst}')
    return info


def run_converter(doc: str, name: str, convert: Converter, report: Callable[[dict, str],
                                                                            None]) -> None:
    """``SRC DST [--grid H W] [--overwrite]``: :func:`convert_file` with
    ``convert(state, SRC, grid=...)``, then ``report(info, DST)``."""
    args = converter_parser(doc).parse_args()
    info = convert_file(args, name, lambda state: convert(state, args.src, grid=args.grid))
    report(info, args.dst)


def print_conversion(info: dict, dst: str, unmatched: str) -> None:
    """What a converted model goes with: the shipped config that loads
    ``dst`` (where none does: ``none of <pattern> loads it <unmatched>``, the
    reason and what to use instead), its backbone, its decode head (a
    segmentor) or classifier head, and for a segmentor with a config the
    command that evaluates it."""
    if info['config']:
        print(f'config: {info["config"]}')
    else:
        print(f'config: none of {info["config_pattern"]} loads it {unmatched}')
    print(f'backbone: {info["backbone"]}')
    if 'decode_head' in info:
        print(f'decode_head: {info["decode_head"]}')
    else:
        print(f'head: LinearClsHead(num_classes={info["num_classes"]}, '
              f'in_channels={info["backbone"]["arch"][0]})')
    if info['config'] and 'decode_head' in info:
        print(f'evaluate: python tools/test.py {info["config"]} {dst}')
