# Segmenter baseline (mmseg's SegmenterMaskTransformerHead, Segmenter's init) on a ViT-S/16 encoder
# (ImageNet-21k timm weights), Cityscapes, the authors' Segmenter recipe:
# 768x768 crops, total batch 8, SGD lr 1e-2 poly, 80k iterations (216 epochs),
# sliding-window test 768 / stride 736: the same encoder, data and schedule as the CBT decoder.
_base_ = [
    '../_base_/models/segmenter_vit-s16.py', '../_base_/datasets/cityscapes_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_80k_lr1e-2.py'
]
pretrained = 'checkpoints/vit-s16_384_timm.pth'
crop_size = (768, 768)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=19),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(736, 736)))
