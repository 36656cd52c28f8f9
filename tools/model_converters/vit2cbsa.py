"""Adapt a pretrained ViT into CBSA style (paper Fig. 9): a ViT classifier checkpoint.

    python tools/model_converters/vit2cbsa.py SRC DST [--variant cbsa]
        [--blocks 6 7 8 9 10 11] [--rep-grid 8] [--drop-head] [--grid H W] [--overwrite]

SRC: a timm ``vit_*`` state dict (``.pth``/``.bin``/``.safetensors``, e.g.
``torch.save(timm.create_model('vit_base_patch16_224.augreg2_in21k_ft_in1k',
pretrained=True).state_dict(), SRC)`` on a machine with network access), or an
mmsegmentation / mmpretrain ViT checkpoint. DST: an mmpretrain
``ImageClassifier`` state dict (``backbone.*``, ``head.fc.*``) for this
project's ``ViT`` whose blocks reuse the pretrained query / key / value and
output projections in the chosen attention:

  cbsa                 QKVCBSA: extract, contract, broadcast
  cbsa-no-contraction  QKVCBSA(contraction=False): the authors' released form
  linear               QKVLinearAttention: ReLU-kernel linear attention

``--blocks`` adapts only the listed blocks (the rest stay MHSA); all by
default, as the authors do. The printed backbone config is what the configs in
configs/vit_adaptation/ use. A file with a tensor or block missing, or of the
wrong shape, is refused by key and nothing is written; a position embedding
that is not square needs its patch grid (``--grid``). Guide:
docs/vit_adaptation.md.
"""
from mmseg_cbsa.converters.cli import convert_file, converter_parser
from mmseg_cbsa.converters.vit_adaptation import ADAPTATIONS, convert_vit_to_cbsa


def main() -> None:
    parser = converter_parser(__doc__, 'pretrained ViT checkpoint')
    parser.add_argument('--variant', choices=list(ADAPTATIONS), default='cbsa')
    parser.add_argument('--blocks', type=int, nargs='+', help='blocks to adapt (default: all)')
    parser.add_argument(
        '--rep-grid',
        type=int,
        default=8,
        help='representatives per side (CBSA variants; the authors use 8)')
    parser.add_argument(
        '--drop-head',
        action='store_true',
        help='leave the classifier head out (a new one is trained)')
    args = parser.parse_args()
    info = convert_file(
        args, 'vit2cbsa', lambda state: convert_vit_to_cbsa(
            state,
            args.src,
            args.variant,
            args.blocks,
            args.rep_grid,
            keep_head=not args.drop_head,
            grid=args.grid))
    print(f'adapted blocks ({args.variant}): {info["adapted"]}, reusing '
          f'{len(info["reused"])} pretrained attention tensors')
    if info['dropped']:
        print(f'left out (not the encoder): {info["dropped"]}')
    print(f'backbone: {info["backbone"]}')
    print('head: ' + ('none (trained from scratch)' if info['num_classes'] is
                      None else f'LinearClsHead(num_classes={info["num_classes"]})'))


if __name__ == '__main__':
    main()
