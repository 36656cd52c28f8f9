"""Segment images with any mmseg model and save overlays with a class legend.

    python demo/image_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR

Works for this plugin's configs and for any mmseg config (it runs mmseg's
``MMSegInferencer``). One ``<name>.png`` is written per input image. The
work is mmseg_cbsa.analysis.demos.segment_images.
"""
import argparse

from mmseg_cbsa.analysis.demos import segment_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files and/or folders')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--opacity', type=float, default=0.5)
    args = parser.parse_args()
    segment_images(args.config, args.checkpoint, args.images, args.out, args.device,
                   args.opacity)


if __name__ == '__main__':
    main()
