"""The command line shared by ``tools/model_converters``."""
import argparse
from typing import Callable, Dict, Tuple

from torch import Tensor

from ..utils.checkpoint import extract_state_dict, load_checkpoint_file, save_checkpoint_file

Converter = Callable[[Dict[str, Tensor], str], Tuple[Dict[str, Tensor], dict]]


def run_converter(doc: str, name: str, convert: Converter, report: Callable[[dict, str],
                                                                            None]) -> None:
    """``SRC DST [--overwrite]``: load SRC weights-only, convert, save DST
    atomically (never over an existing file unless asked), then ``report``."""
    parser = argparse.ArgumentParser(
        description=doc.strip().splitlines()[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=doc)
    parser.add_argument('src', help='checkpoint to convert')
    parser.add_argument('dst', help='output checkpoint for this project')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    args = parser.parse_args()
    state = extract_state_dict(load_checkpoint_file(args.src), args.src)
    converted, info = convert(state, args.src)
    save_checkpoint_file(
        converted,
        args.dst,
        overwrite=args.overwrite,
        meta=dict(source=args.src, converter=name, info=str(info)))
    print(f'wrote {len(converted)} tensors to {args.dst}')
    report(info, args.dst)
