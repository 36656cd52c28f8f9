# CBT-S decoder on a ViT-S/16 encoder (ImageNet-21k timm weights), ADE20K,
# Segmenter's recipe: 512x512 crops, total batch 8, SGD 1e-3 poly, 160k
# iterations, sliding-window test with 512 windows and stride 480.
#
# Encoder weights: convert timm's vit_small_patch16_384 state dict once with
#   python tools/model_converters/timm_vit2mmseg.py SRC checkpoints/vit-s16_384_timm.pth
_base_ = [
    '../_base_/models/cbt_vit-s16.py', '../_base_/datasets/ade20k_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
pretrained = 'checkpoints/vit-s16_384_timm.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
