"""Convert a timm ``vit_*_patch16_{224,384}`` state dict for the ``ViT`` backbone.

    python tools/model_converters/timm_vit2mmseg.py SRC DST [--grid H W] [--overwrite]

SRC: a ``.pth``/``.bin``/``.safetensors`` file holding timm's state dict
(e.g. ``torch.save(timm.create_model('vit_small_patch16_384',
pretrained=True).state_dict(), SRC)`` on a machine with network access).
A position embedding that is not square needs its patch grid (``--grid``:
timm does not store it). A file with a tensor or block missing, or of the
wrong shape, is refused by key and nothing is written.
"""
from mmseg_cbsa.converters import convert_timm_vit
from mmseg_cbsa.converters.cli import run_converter


def report(cfg: dict, dst: str) -> None:
    print(f'backbone: {cfg}')
    print("use it as model.backbone.init_cfg=dict(type='Pretrained', "
          f"checkpoint='{dst}') with a matching arch, e.g. configs/cbt/")


if __name__ == '__main__':
    run_converter(__doc__, 'timm_vit2mmseg', convert_timm_vit, report)
