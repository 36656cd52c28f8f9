# Segmenter baseline (mmseg's SegmenterMaskTransformerHead, Segmenter's init) on a ViT-S/16 encoder
# (ImageNet-21k timm weights), Pascal Context 59, the authors' Segmenter recipe:
# 480x480 crops, total batch 16, SGD lr 1e-3 poly, 80k iterations (256 epochs),
# sliding-window test 480 / stride 448: the same encoder, data and schedule as the CBT decoder.
_base_ = [
    '../_base_/models/segmenter_vit-s16.py', '../_base_/datasets/pascal_context_59_bs2.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_80k.py'
]
pretrained = 'checkpoints/vit-s16_384_timm.pth'
crop_size = (480, 480)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size, init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(num_classes=59),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(448, 448)))
