"""Segment images with any mmseg model and save overlays with a class legend.

    python demo/image_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR

Works for this plugin's configs and for any mmseg config (it runs mmseg's
``MMSegInferencer``). One ``<name>.png`` is written per input image; two
different inputs with the same name (a/x.jpg, b/x.jpg) are refused before
anything runs. An image that cannot be read or segmented is reported by name
and skipped, and the script exits with status 1 after the others are done.
``--bf16`` runs the model under bfloat16 autocast on its device (CPU or CUDA).
The work is mmseg_cbsa.analysis.demos.segment_images.
"""
import argparse
import sys

from mmseg_cbsa.analysis.demos import ImageFailures, segment_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files and/or folders')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--opacity', type=float, default=0.5)
    parser.add_argument('--bf16', action='store_true',
                        help='run the model under bfloat16 autocast (CPU or CUDA)')
    args = parser.parse_args()
    try:
        segment_images(args.config, args.checkpoint, args.images, args.out, args.device,
                       args.opacity, precision='bf16' if args.bf16 else 'float32')
    except ImageFailures as e:
        sys.exit(f'error: {e}')


if __name__ == '__main__':
    main()
