"""Zero-shot segmentation masks from [CLS] attention (paper appendix C) for your own images.

    python demo/zero_shot_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR
                                  [--share 0.6] [--layers 0 5 -1] [--tile 96]
                                  [--device cpu] [--precision auto] [--overwrite]

CONFIG: one of configs/zero_shot/ (the [CLS] probe, ``CLSAttentionProbe``:
the image resized to 480 px on its long side), or a classifier's config
(configs/classification, configs/finetune: its test pipeline, the centre
crop it classifies), or any config whose encoder has a [CLS] token.
CHECKPOINT: a classifier converted with tools/model_converters/cbt_cls2mmseg.py
(``backbone.*``, ``head.*``; what tools/zero_shot_voc.py takes), or the
config's own checkpoint. Each image goes once through the config's test
pipeline and the encoder; per encoder block and head, the patches that
together hold ``--share`` of the head's [CLS] attention mass are kept, the
rule tools/zero_shot_voc.py scores on VOC12. Written per image (into DIR for
one image, DIR/<image name>/ for several), on the network input:

* ``zero_shot_masks.png``: rows = encoder blocks, columns = heads, and a
  last column ``mean``: the combined mask, the same rule on the heads' mean
  attention; kept patches bright, the rest dark;
* ``zero_shot_combined.png``: the combined mask of the last chosen block, at
  the network input's size.

``--share`` defaults to the config's (ZeroShotCLSMetric's ``share``, else
0.6); ``--layers`` picks the blocks (negative from the end; default the
probe's ``layers``, all). One progress bar covers all images; the written
files are listed on stdout. An image that cannot be read or run is reported
by name and skipped, and the script exits with status 1 after the others
are done. Different images with the same name, an encoder without a [CLS]
token, ``--share`` outside (0, 1), blocks the encoder does not have,
``--out`` inside an input folder or over an input image, and pictures of an
earlier run there (without ``--overwrite``) are refused before anything runs:
``error: ...``, exit status 1. The drawing is
mmseg_cbsa.apps.demos.draw_zero_shot_masks.
"""
import argparse
from typing import List, Optional

from mmseg_cbsa.apps.demos import (DEMO_ERRORS, add_block_options, demo_parser, demo_precision,
                                   draw_zero_shot_masks)
from mmseg_cbsa.utils.config import exit_on_input_error
from mmseg_cbsa.utils.console import known_warnings_ignored


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = demo_parser(__doc__, "the config's checkpoint or a converted classifier's")
    p.add_argument(
        '--share',
        type=float,
        help="attention mass kept per head, in (0, 1) (default: the config's, else 0.6)")
    add_block_options(p, "the config's, all", 'long side of a tile of the grid, px')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    with exit_on_input_error(*DEMO_ERRORS):
        draw_zero_shot_masks(
            args.config,
            args.checkpoint,
            args.images,
            args.out,
            share=args.share,
            layers=args.layers,
            tile=args.tile,
            device=args.device,
            precision=demo_precision(args),
            overwrite=args.overwrite)


if __name__ == '__main__':
    with known_warnings_ignored():  # third-party notices (mmseg_cbsa/utils/console.py)
        main()
