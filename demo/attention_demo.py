"""Draw a model's [CLS] attention and CBSA extraction maps for images.

    python demo/attention_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR
                                  [--layers 0 3 -1] [--tile 96] [--map-size 32] [--device cpu]
                                  [--precision auto]

CONFIG may be a segmentor, an ImageNet classifier (mmpretrain
``ImageClassifier``: configs/classification, configs/finetune) or the [CLS]
probe (configs/zero_shot), with its own or a converted classifier's checkpoint.
The image goes once through the config's test pipeline and the model (a
segmentor as ``mmseg.apis.inference_model`` runs it); the maps are drawn on the
network input. A model without a decode head (classifier, probe) gets the
[CLS] grid and its encoder's CBSA pictures, and a one-line note saying so;
a model trained on the quickstart's synthetic shapes gets a note (stderr)
that it labels real photos with shape names.
Written per image (into DIR for one image, DIR/<image name>/ for several):

* ``cls_attention.png``: rows = encoder blocks, columns = heads, the
  [CLS]-to-patch attention of each head over the image, with a colour bar
  (encoders of this package; other backbones have no [CLS] token and are
  skipped with a message);
* ``cbsa_<where>_layer<i>.png`` for every CBSA layer (encoder blocks of CBT
  backbones, ``decode_head`` layers of the CBT head): per head, one numbered
  tile per representative showing where it extracts from, i.e. its row of
  ``A = softmax_N(Q_0 W^T / sqrt p)`` over the image, with the patches it
  starts from outlined, and a colour bar.

``--layers`` picks the encoder blocks for both pictures (default all); the
decode head's layers are always drawn. One progress bar covers all images.
Sliding-window test configs are run on the whole image, so that every map
covers it. An image that cannot be read or run is reported by name and
skipped, and the script exits with status 1 after the others are done;
different images with the same name, and ``--layers`` the encoder does not
have, are refused before anything runs (exit status 1, ``error: ...``).
``--out`` may not be (or lie in) an input folder nor replace an input image,
and pictures of an earlier run there are replaced only with ``--overwrite``;
all checked before anything runs. On a patch grid smaller than a layer's
representative grid (an elongated image) the maps show the representatives
actually used, at most one per patch row and column. ``--precision``
(default auto: the fastest the hardware runs natively, never slower than
float32; ``--bf16`` is an alias of ``--precision bf16``) runs the model
under autocast on its device (CPU or CUDA). The drawing is
mmseg_cbsa.apps.demos.draw_attention_maps.
"""
import argparse
from typing import List, Optional

from mmseg_cbsa.apps.demos import (DEMO_ERRORS, add_block_options, demo_parser, demo_precision,
                                   draw_attention_maps)
from mmseg_cbsa.utils.config import exit_on_input_error
from mmseg_cbsa.utils.console import known_warnings_ignored


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = demo_parser(__doc__)
    add_block_options(p, 'all', 'long side of a [CLS] map, px')
    p.add_argument(
        '--map-size', type=int, default=64, help="long side of one representative's tile, px")
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    with exit_on_input_error(*DEMO_ERRORS):
        draw_attention_maps(
            args.config,
            args.checkpoint,
            args.images,
            args.out,
            args.layers,
            args.tile,
            args.map_size,
            args.device,
            precision=demo_precision(args),
            overwrite=args.overwrite)


if __name__ == '__main__':
    with known_warnings_ignored():  # third-party notices (mmseg_cbsa/utils/console.py)
        main()
