# CBT decoder on a ViT-B/16 encoder (timm vit_base_patch16_384 weights), Pascal Context 59.
_base_ = ['./cbt_vit-s16_8xb2-80k_pascal-context-59-480x480.py']
pretrained = 'checkpoints/vit-b16_384_timm.pth'
model = dict(
    backbone=dict(arch='b', init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=768))
