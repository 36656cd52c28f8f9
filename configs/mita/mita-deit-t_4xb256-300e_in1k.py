# MiTA-DeiT-Tiny on ImageNet-1K (QishuaiWen/MiTA, MiTA-DeiT/): timm's
# deit_tiny_patch16_224 with every block's attention replaced by MiTA (their
# main.py) and DeiT's recipe: total batch 1024 (4 GPUs x 256, their README), AdamW
# lr 5e-4 x 1024 / 512, weight decay 0.05, 300 epochs cosine to 1e-5 after a
# 5-epoch warm-up from 1e-6, RandAugment, mixup 0.8 / cutmix 1.0, random erasing
# 0.25, label smoothing 0.1, drop path 0.1, repeated augmentation, no gradient
# clipping. mmpretrain's DeiT-T config carries the data pipeline and the AdamW /
# mixup settings; recipe card: docs/recipes.md ("MiTA-DeiT").
_base_ = ['mmpretrain::deit/deit-tiny_4xb256_in1k.py']
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
# main.py: pool_size 5 and kv_topk 5, squared to 25 keys per router; qkv_bias
# from timm's block (True). Their pooling takes q[:, :-1] as the square grid
# ([CLS] in it, the last patch out): legacy_cls_pooling.
model = dict(
    backbone=dict(
        _delete_=True,
        _scope_='mmseg_cbsa',
        type='ViT',
        arch='t',
        img_size=224,
        drop_path_rate=0.1,
        out_type='cls_token',
        legacy_cls_pooling=True,
        attn_cfg=[dict(type='MiTA', pool_size=5, topk=25, router_scale='code', qkv_bias=True)] *
        12),
    # timm's initialisation (the ViT's weight_init='timm'; head trunc-normal 0.02,
    # zero bias), not mmpretrain's classifier-wide one
    head=dict(
        type='LinearClsHead', init_cfg=dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.)),
    init_cfg=None)
train_dataloader = dict(sampler=dict(type='RepeatAugSampler', shuffle=True))
optim_wrapper = dict(clip_grad=None)
param_scheduler = [
    dict(
        type='LinearLR', start_factor=1e-6 / 1e-3, by_epoch=True, end=5,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=5)
]
