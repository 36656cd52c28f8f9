# CBT-S decoder on a ViT-S/16 encoder (ImageNet-21k timm weights), ADE20K,
# Segmenter's recipe: 512x512 crops, total batch 8, SGD 1e-3 poly, 160k
# iterations, sliding-window test with 512 windows and stride 512.
#
# Encoder weights: convert timm's vit_small_patch16_384 state dict once with
#   python tools/model_converters/timm_vit2mmseg.py SRC checkpoints/vit-s16_384_timm.pth
_base_ = [
    '../_base_/models/vit-s16_cbt.py', 'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
pretrained = 'checkpoints/vit-s16_384_timm.pth'
model = dict(backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)))
# 8 GPUs x 1 image; on fewer GPUs raise batch_size so that the total stays 8.
train_dataloader = dict(batch_size=1, num_workers=4)
val_dataloader = dict(batch_size=1, num_workers=4)
test_dataloader = val_dataloader
