# ViT-T/16, linear attention (Fig. 9's baseline).
_base_ = ['./vit-t16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='QKVLinearAttention')))
