# ViT-S/16 ImageNet classifier (timm weights converted with
# tools/model_converters/timm_vit2mmseg.py), zero-shot on VOC12 val.
_base_ = [
    '../_base_/models/cls_attention_probe.py', '../_base_/datasets/pascal_voc12_zero_shot.py',
    '../_base_/zero_shot_runtime.py'
]
checkpoint = 'checkpoints/vit-s16_224_timm.pth'
model = dict(
    data_preprocessor=dict(mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5]),
    backbone=dict(
        type='ViT', arch='s', img_size=224, init_cfg=dict(type='Pretrained',
                                                          checkpoint=checkpoint)))
