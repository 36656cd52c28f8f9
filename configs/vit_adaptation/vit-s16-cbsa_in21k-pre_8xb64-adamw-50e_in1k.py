# ViT-S/16 adapted into CBSA style (Fig. 9), the ViT-B/16 recipe.
_base_ = ['./vit-b16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py']
load_from = 'checkpoints/vit-s16_in21k-ft-in1k_adapted.pth'
model = dict(backbone=dict(arch='s'), head=dict(in_channels=384))
