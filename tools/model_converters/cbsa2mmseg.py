"""Convert the authors' segmentation checkpoints (CBT decoder, DEPICT-SA, DEPICT-CA).

    python tools/model_converters/cbsa2mmseg.py SRC DST [--overwrite]

SRC is a Segmenter-style ``checkpoint.pth`` holding ``model`` with
``encoder.*`` (Segmenter's ViT) and ``decoder.*`` keys. Heads, head width
and layers are read from the tensor shapes; the representative grid of the
CBT decoder (10x10) and DEPICT's head widths (100 / 50) are hard-wired in
the authors' code. Prints the config the converted file goes with.
"""
from mmseg_cbsa.converters.authors import convert_segmentation
from mmseg_cbsa.converters.cli import run_converter


def report(info: dict, dst: str) -> None:
    print(f'decoder: {info["decoder"]}')
    print(f'config: {info["config"]}')
    print(f'backbone: {info["backbone"]}')
    print(f'decode_head: {info["decode_head"]}')
    print(f'evaluate: python tools/test.py {info["config"]} {dst}')


if __name__ == '__main__':
    run_converter(__doc__, 'cbsa2mmseg', convert_segmentation, report)
