"""Draw a model's [CLS] attention and CBSA extraction maps for images.

    python demo/attention_demo.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [...] --out DIR
                                  [--layers 0 3 -1] [--tile 96] [--map-size 32] [--device cpu]

The image goes once through mmseg's test pipeline and the model (as
``mmseg.apis.inference_model`` does); the maps are drawn on the network input.
Written per image (into DIR for one image, DIR/<image name>/ for several):

* ``cls_attention.png``: rows = encoder blocks, columns = heads, the
  [CLS]-to-patch attention of each head over the image (encoders of this
  package; other backbones have no [CLS] token and are skipped with a message);
* ``cbsa_<where>_layer<i>.png`` for every CBSA layer (encoder blocks of CBT
  backbones, ``decode_head`` layers of the CBT head): per head, where the
  representatives start (their pooling cells) and where their extraction mass
  lies (A-weighted centroids), and the extraction maps (rows of
  ``A = softmax_N(Q_0 W^T / sqrt p)`` on the patch grid).

``--layers`` picks the encoder blocks for both pictures (default all); the
decode head's layers are always drawn. Sliding-window test configs are run on
the whole image, so that every map covers it.
"""
import argparse
import os
import os.path as osp
from typing import List, Optional

import mmcv
from mmengine.config import Config

import mmseg_cbsa  # noqa: F401  (registers modules, allow-lists checkpoint types)
from mmseg_cbsa.attention_maps import AttentionRecorder, CBSAExtraction
from mmseg_cbsa.utils import collect_images
from mmseg_cbsa.visualization import cbsa_extraction_figure, cls_attention_grid


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('images', nargs='+', help='image files and/or folders')
    p.add_argument('--out', required=True, help='output folder')
    p.add_argument('--layers', type=int, nargs='+',
                   help='encoder blocks to draw (negative from the end; default all)')
    p.add_argument('--tile', type=int, default=96, help='long side of a [CLS] map, px')
    p.add_argument('--map-size', type=int, default=32,
                   help='long side of one extraction map, px')
    p.add_argument('--device', default='cpu')
    return p.parse_args(argv)


def output_name(ext: CBSAExtraction, index: int) -> str:
    """``cbsa_<where>_layer<i>[_call<j>].png``; ``index`` stands in for a
    layer number the module name does not carry."""
    layer = ext.layer if ext.layer is not None else index
    return f'cbsa_{ext.where}_layer{layer}' + (f'_call{ext.call}' if ext.call else '') + '.png'


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    from mmseg.apis import inference_model, init_model

    images = collect_images(args.images)
    stems = [osp.splitext(osp.basename(p))[0] for p in images]
    if len(set(stems)) != len(stems):
        raise ValueError(f'two images share a name, their outputs would collide: {stems}')
    cfg = Config.fromfile(args.config)
    test_cfg = cfg.model.get('test_cfg') or {}
    if test_cfg.get('mode') == 'slide':
        print('note: running the whole image instead of sliding windows')
        cfg.model.test_cfg = dict(mode='whole')
    model = init_model(cfg, args.checkpoint, device=args.device)
    num_blocks = getattr(model.backbone, 'num_layers', None)
    wanted = None
    if args.layers is not None:
        if isinstance(num_blocks, int):
            bad = [i for i in args.layers if not -num_blocks <= i < num_blocks]
            if bad:
                raise ValueError(f'--layers {bad}: {type(model.backbone).__name__} has '
                                 f'{num_blocks} blocks (0..{num_blocks - 1}, or negative)')
            wanted = {i % num_blocks for i in args.layers}
        else:
            wanted = set(args.layers)

    for path, stem in zip(images, stems):
        out_dir = args.out if len(images) == 1 else osp.join(args.out, stem)
        os.makedirs(out_dir, exist_ok=True)
        with AttentionRecorder(model, cls_layers=args.layers) as rec:
            inference_model(model, path)
        image = rec.input_images()[0]

        if rec.cls_maps is None:
            print(f'skipping cls_attention.png: {rec.cls_skip_reason}')
        else:
            maps = {i: m[0].float().cpu().numpy() for i, m in rec.cls_maps.items()}
            out = osp.join(out_dir, 'cls_attention.png')
            mmcv.imwrite(mmcv.rgb2bgr(cls_attention_grid(image, maps, args.tile,
                                                         rec.patch_size)), out)
            print(out)

        extractions = [e for e in rec.extractions
                       if wanted is None or e.where != 'backbone' or e.layer in wanted]
        if not rec.extractions:
            print(f'no CBSA layers in {type(model).__name__}: no extraction maps')
        for index, ext in enumerate(extractions):
            patch_mass = 1 - ext.other_mass[0]
            title = (f'{ext.name} ({ext.type}): {ext.hw_shape[0]}x{ext.hw_shape[1]} patches, '
                     f'{ext.rep_grid[0]}x{ext.rep_grid[1]} representatives, mass on patches '
                     f'{patch_mass.min():.2f}-{patch_mass.max():.2f}')
            canvas = cbsa_extraction_figure(
                image, ext.maps[0].float().cpu().numpy(), ext.cells().numpy(),
                ext.centroids()[0].float().cpu().numpy(), ext.rep_grid,
                rec.patch_size, args.map_size, title)
            out = osp.join(out_dir, output_name(ext, index))
            mmcv.imwrite(mmcv.rgb2bgr(canvas), out)
            print(out)


if __name__ == '__main__':
    main()
