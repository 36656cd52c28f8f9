# The reference of Fig. 9: the same ViT-B/16 fine-tuned with the same recipe and
# its attention left as it is (MHSA).
_base_ = ['./vit-b16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py']
model = dict(backbone=dict(attn_cfg=dict(_delete_=True, type='MHSA')))
