"""Segment images with any mmseg model and save overlays with a class legend.

    python demo/image_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR

Works for this plugin's configs and for any mmseg config (it runs mmseg's
``MMSegInferencer``). One ``<name>.png`` is written per input image.
"""
import argparse
import os
import os.path as osp

import mmcv

import mmseg_cbsa  # noqa: F401  (registers modules, allow-lists checkpoint types)
from mmseg_cbsa.utils import collect_images
from mmseg_cbsa.visualization import overlay_with_legend


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('images', nargs='+', help='image files and/or folders')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--opacity', type=float, default=0.5)
    args = parser.parse_args()

    from mmseg.apis import MMSegInferencer
    images = collect_images(args.images)
    inferencer = MMSegInferencer(model=args.config, weights=args.checkpoint, device=args.device)
    meta = inferencer.model.dataset_meta
    os.makedirs(args.out, exist_ok=True)
    for path in images:
        sample = inferencer(path, return_datasamples=True)
        label = sample.pred_sem_seg.data[0].cpu().numpy()
        image = mmcv.imread(path, channel_order='rgb')
        canvas = overlay_with_legend(image, label, meta['classes'], meta['palette'], args.opacity)
        out = osp.join(args.out, osp.splitext(osp.basename(path))[0] + '.png')
        mmcv.imwrite(mmcv.rgb2bgr(canvas), out)
        print(out)


if __name__ == '__main__':
    main()
