# DEPICT-SA decoder on a ViT-S/16 encoder (ImageNet-21k timm weights), ADE20K,
# Segmenter's recipe (as ../cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py).
_base_ = [
    '../_base_/models/depict-sa_vit-s16.py', '../_base_/datasets/ade20k_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
pretrained = 'checkpoints/vit-s16_384_timm.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
