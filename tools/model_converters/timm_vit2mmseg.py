"""Convert a timm ``vit_*_patch16_{224,384}`` state dict for the ``ViT`` backbone.

    python tools/model_converters/timm_vit2mmseg.py SRC DST [--overwrite]

SRC: a ``.pth``/``.bin``/``.safetensors`` file holding timm's state dict
(e.g. ``torch.save(timm.create_model('vit_small_patch16_384',
pretrained=True).state_dict(), SRC)`` on a machine with network access).
DST is written atomically and never replaces an existing file unless
``--overwrite``.
"""
import argparse

from mmseg_cbsa.converters import convert_timm_vit
from mmseg_cbsa.utils.checkpoint import (extract_state_dict, load_checkpoint_file,
                                         save_checkpoint_file)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('src', help='timm state dict')
    parser.add_argument('dst', help='output checkpoint for the ViT backbone')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing DST')
    args = parser.parse_args()
    state = extract_state_dict(load_checkpoint_file(args.src), args.src)
    converted, cfg = convert_timm_vit(state, args.src)
    save_checkpoint_file(converted, args.dst, meta=dict(source=args.src, converter='timm_vit2mmseg',
                                                        backbone=str(cfg)),
                         overwrite=args.overwrite)
    print(f'wrote {len(converted)} tensors to {args.dst}')
    print(f'backbone: {cfg}')
    print("use it as model.backbone.init_cfg=dict(type='Pretrained', "
          f"checkpoint='{args.dst}') with a matching arch, e.g. configs/cbt/")


if __name__ == '__main__':
    main()
