# Benchmark encoder: deit-s_mita_4xb256-300e_in1k.py with plain MHSA in every
# block (the ViT's default attention, through torch's fused
# scaled_dot_product_attention when no attention hook listens).
_base_ = ['./deit-s_mita_4xb256-300e_in1k.py']
model = dict(backbone=dict(attn_cfg=None))
