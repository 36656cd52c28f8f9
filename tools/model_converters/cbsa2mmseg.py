"""Convert the authors' segmentation checkpoints (CBT decoder, DEPICT-SA, DEPICT-CA).

    python tools/model_converters/cbsa2mmseg.py SRC DST [--grid H W] [--overwrite]

SRC is a Segmenter-style ``checkpoint.pth`` holding ``model`` with
``encoder.*`` (Segmenter's ViT) and ``decoder.*`` keys. Heads, head width
and layers are read from the tensor shapes; the representative grid of the
CBT decoder (10x10) and DEPICT's head widths (100 / 50) are hard-wired in
the authors' code. Prints the backbone and decode_head the converted file
goes with, and the shipped config that loads it (of its size and classes),
if one does. A file with a tensor or layer missing, or of the wrong shape,
is refused by key and nothing is written.
"""
from mmseg_cbsa.converters.authors import convert_segmentation
from mmseg_cbsa.converters.cli import print_conversion, run_converter


def report(info: dict, dst: str) -> None:
    print(f'decoder: {info["decoder"]}')
    print_conversion(info, dst,
                     '(another size or class count): use the backbone and decode_head below')


if __name__ == '__main__':
    run_converter(__doc__, 'cbsa2mmseg', convert_segmentation, report)
