# Segmenter baseline on a ViT-B/16 encoder (timm vit_base_patch16_384 weights), Cityscapes.
_base_ = ['./segmenter_vit-s16_8xb1-80k_cityscapes-768x768.py']
pretrained = 'checkpoints/vit-b16_384_timm.pth'
model = dict(
    backbone=dict(arch='b', init_cfg=dict(checkpoint=pretrained)),
    decode_head=dict(in_channels=768, channels=768, num_heads=12, embed_dims=768))
