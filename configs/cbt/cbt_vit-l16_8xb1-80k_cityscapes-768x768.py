# CBT decoder on a ViT-L/16 encoder (timm vit_large_patch16_384 weights), Cityscapes.
_base_ = ['./cbt_vit-s16_8xb1-80k_cityscapes-768x768.py']
pretrained = 'checkpoints/vit-l16_384_timm.pth'
model = dict(
    backbone=dict(arch='l', init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=1024))
