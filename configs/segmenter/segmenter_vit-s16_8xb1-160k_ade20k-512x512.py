# Segmenter baseline (mmseg's SegmenterMaskTransformerHead, Segmenter's init) on a ViT-S/16 encoder,
# ADE20K, Segmenter's recipe: the same encoder, data and schedule as the CBT decoder.
_base_ = [
    '../_base_/models/segmenter_vit-s16.py', '../_base_/datasets/ade20k_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
pretrained = 'checkpoints/vit-s16_384_timm.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
