"""Convert the authors' MiTA checkpoints (QishuaiWen/MiTA: MiTA-DeiT, MiTA-Segmenter).

    python tools/model_converters/mita2mmseg.py SRC DST --from mita-deit
        [--pool-size 5] [--kv-topk 5] [--grid H W] [--overwrite]
    python tools/model_converters/mita2mmseg.py SRC DST --from mita-segmenter
        [--grid H W] [--overwrite]

MiTA's attention has MHSA's parameters, so its checkpoints look like plain
DeiT / Segmenter ones and the source is named with ``--from``:

  mita-deit       MiTA-DeiT's main.py checkpoint (checkpoint.pth /
                  best_checkpoint.pth: 'model' is a timm ViT); DST is an
                  mmpretrain ImageClassifier state dict (backbone.*, head.fc.*)
                  for configs/mita/mita-deit-t_*.py. --pool-size and --kv-topk
                  are what was passed to their main.py (their defaults 5 and 5;
                  kv_topk is squared: 25 keys per router). The checkpoint's
                  options ('args', an argparse.Namespace) are allowed in the
                  weights-only read; nothing else is.
  mita-segmenter  MiTA-Segmenter's checkpoint.pth (encoder.* with MiTA in
                  every block, 7x7 routers and 49 keys hard-coded in their
                  code; decoder.*: the CBSA "mask_transformer"); DST is an mmseg
                  segmentor state dict for
                  configs/mita/mita-segmenter_vit-t16_*.py.

Both print the backbone config (MiTA in every block, legacy_cls_pooling=True
for their [CLS]/last-token pooling, router_scale='code') and the shipped
config that loads the file with these settings, if one does. A file with a
tensor or layer missing, unknown or of the wrong shape is refused by key and
nothing is written. Guide: docs/mita.md.
"""
from mmseg_cbsa.converters.cli import convert_file, converter_parser, print_conversion
from mmseg_cbsa.converters.mita import DEIT_KV_TOPK, DEIT_POOL_SIZE, MITA_SOURCES


def main() -> None:
    parser = converter_parser(__doc__, "the authors' MiTA checkpoint")
    parser.add_argument(
        '--from',
        dest='source',
        required=True,
        choices=list(MITA_SOURCES),
        help='which of the authors\' codes wrote SRC: ' +
        '; '.join(f'{name}: {s.description}' for name, s in MITA_SOURCES.items()))
    parser.add_argument(
        '--pool-size',
        type=int,
        help=f'mita-deit: their --pool-size, routers per side (default {DEIT_POOL_SIZE})')
    parser.add_argument(
        '--kv-topk',
        type=int,
        help=f'mita-deit: their --kv-topk, squared into keys per router (default '
        f'{DEIT_KV_TOPK})')
    args = parser.parse_args()
    source = MITA_SOURCES[args.source]
    options = {
        name: getattr(args, name)
        for name in ('pool_size', 'kv_topk') if getattr(args, name) is not None
    }
    refused = sorted(set(options) - set(source.options))
    if refused:
        parser.error(f'--from {args.source} takes no ' + ', '.join('--' + o.replace('_', '-')
                                                                   for o in refused) +
                     ' (fixed in the authors\' code)')
    info = convert_file(
        args,
        'mita2mmseg',
        lambda state: source.convert(state, args.src, grid=args.grid, **options),
        safe_types=source.safe_types)
    print_conversion(
        info, args.dst, 'with these settings (another size, class count or MiTA setting): '
        'use the settings below')


if __name__ == '__main__':
    main()
