# DEPICT-SA decoder on a ViT-T/16 encoder (timm vit_tiny_patch16_384 weights).
_base_ = ['./depict-sa_vit-s16_8xb1-160k_ade20k-512x512.py']
pretrained = 'checkpoints/vit-t16_384_timm.pth'
model = dict(
    backbone=dict(arch='t', init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=192))
