"""Segment images with any mmseg model: input | prediction [| ground truth], with a legend.

    python demo/image_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR
                              [--gt-dir LABELS [--gt-suffix .png]] [--opacity 0.5]
    python demo/image_demo.py CONFIG MODEL.onnx IMAGE_OR_FOLDER [...] --out DIR

Works for this plugin's configs and for any mmseg config (it runs mmseg's
``MMSegInferencer``); an exported ``.onnx`` file in place of the checkpoint
runs in onnxruntime with the config's pipeline (tools/deployment/pytorch2onnx.py
exports one). One ``<name>.png`` is written per input image, showing the
image, the prediction and, with ``--gt-dir``, the ground truth
``LABELS/<name><suffix>`` (loaded as the config's test pipeline loads
annotations); one progress bar covers all images. Two different inputs with
the same name (a/x.jpg, b/x.jpg) are refused before anything runs. An image
that cannot be read or segmented is reported by name and skipped, and the
script exits with status 1 after the others are done. ``--out`` may not be (or lie in) an input
folder nor replace an input image, and pictures of an earlier run there are
replaced only with ``--overwrite``; all checked before anything runs. ``--bf16`` runs a
PyTorch model under bfloat16 autocast on its device (CPU or CUDA). The work
is mmseg_cbsa.apps.demos.segment_images.
"""
import argparse
import sys
from typing import List, Optional

from mmseg_cbsa.apps.demos import ImageFailures, segment_images
from mmseg_cbsa.deployment import OnnxMismatchError
from mmseg_cbsa.utils.outputs import OutputExistsError, OutputInInputError


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint', help='checkpoint, or an exported MODEL.onnx')
    p.add_argument('images', nargs='+', help='image files and/or folders')
    p.add_argument('--out', required=True, help='output folder (not an input folder)')
    p.add_argument(
        '--overwrite', action='store_true', help='replace pictures of an earlier run in --out')
    p.add_argument('--gt-dir', help='folder of ground-truth label maps <image name><suffix>')
    p.add_argument('--gt-suffix', default='.png', help='file ending of the label maps')
    p.add_argument('--device', default='cpu')
    p.add_argument('--opacity', type=float, default=0.5)
    p.add_argument(
        '--bf16',
        action='store_true',
        help='run a PyTorch model under bfloat16 autocast (CPU or CUDA)')
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    try:
        segment_images(
            args.config,
            args.checkpoint,
            args.images,
            args.out,
            args.device,
            args.opacity,
            precision='bf16' if args.bf16 else 'float32',
            gt_dir=args.gt_dir,
            gt_suffix=args.gt_suffix,
            overwrite=args.overwrite)
    except (ImageFailures, OnnxMismatchError, OutputExistsError, OutputInInputError) as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
