# ViT-S/16 fine-tuned on Oxford Flowers-102, from timm's vit_small_patch16_224 encoder converted
# with timm_vit2mmseg.py (encoder only: no prefix); Table 3's ViT-S weights are
# not released (docs/finetune.md). mmseg_cbsa's ViT, in its own scope (_scope_).
_base_ = ['./cbt-s_in1k-pre_1xb50-400e_flowers102.py']
checkpoint = 'checkpoints/vit-s16_224_timm.pth'
model = dict(
    backbone=dict(
        _scope_='mmseg_cbsa',
        type='ViT',
        arch='s',
        legacy_cls_pooling=False,
        # timm's encoder: finetune.py has no mlp_head to drop, the final norm loads
        init_cfg=dict(checkpoint=checkpoint, prefix=None, keep_init=())),
    head=dict(in_channels=384))
