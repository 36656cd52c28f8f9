# ViT-S/16, CBSA without contraction (Fig. 9).
_base_ = ['./vit-s16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py']
model = dict(backbone=dict(attn_cfg=dict(contraction=False)))
