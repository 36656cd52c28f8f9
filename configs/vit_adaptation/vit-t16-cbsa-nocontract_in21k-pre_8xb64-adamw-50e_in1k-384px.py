# ViT-T/16, CBSA without contraction at 384 (the authors' run, Fig. 9).
_base_ = ['./vit-b16-cbsa-nocontract_in21k-pre_8xb64-adamw-50e_in1k-384px.py']
load_from = 'checkpoints/vit-t16-384_in21k-ft-in1k_adapted.pth'
model = dict(backbone=dict(arch='t'), head=dict(in_channels=192))
