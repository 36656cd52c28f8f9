# Fig. 9's "CBSA without contraction" (the form the authors' released code runs):
# ViT-B/16 adapted with QKVCBSA(contraction=False), same checkpoint and recipe.
_base_ = ['./vit-b16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py']
model = dict(backbone=dict(attn_cfg=dict(contraction=False)))
