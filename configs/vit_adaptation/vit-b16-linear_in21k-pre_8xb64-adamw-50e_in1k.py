# Fig. 9's linear-attention baseline: ViT-B/16 adapted into ReLU-kernel linear
# attention (QKVLinearAttention) on the same projections, same checkpoint and recipe.
_base_ = ['./vit-b16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='QKVLinearAttention')))
