"""Convert the authors' segmentation checkpoints (CBT decoder, DEPICT-SA, DEPICT-CA).

    python tools/model_converters/cbsa2mmseg.py SRC DST [--overwrite]

SRC is a Segmenter-style ``checkpoint.pth`` holding ``model`` with
``encoder.*`` (Segmenter's ViT) and ``decoder.*`` keys. Heads, head width
and layers are read from the tensor shapes; the representative grid of the
CBT decoder (10x10) and DEPICT's head widths (100 / 50) are hard-wired in
the authors' code. Prints the config the converted file goes with.
"""
import argparse

from mmseg_cbsa.converters.authors import convert_segmentation
from mmseg_cbsa.utils.checkpoint import (extract_state_dict, load_checkpoint_file,
                                         save_checkpoint_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help="the authors' checkpoint.pth")
    parser.add_argument('dst', help='output checkpoint for this project')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    args = parser.parse_args()
    state = extract_state_dict(load_checkpoint_file(args.src), args.src)
    converted, info = convert_segmentation(state, args.src)
    save_checkpoint_file(converted, args.dst, overwrite=args.overwrite,
                         meta=dict(source=args.src, converter='cbsa2mmseg', info=str(info)))
    print(f'wrote {len(converted)} tensors ({info["decoder"]} decoder) to {args.dst}')
    print(f'config: {info["config"]}')
    print(f'backbone: {info["backbone"]}')
    print(f'decode_head: {info["decode_head"]}')
    print(f'evaluate: python tools/test.py {info["config"]} {args.dst}')


if __name__ == '__main__':
    main()
