# DEPICT-CA decoder (3 tied-MSSA layers on patches, 3 cross-attention
# layers 3 x 50 for the class embeddings), on ViT-S/16, ADE20K,
# Segmenter's recipe (see ../cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py).
_base_ = ['../cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py']
model = dict(
    decode_head=dict(_delete_=True, type='DEPICTHead', mode='ca', in_channels=384, num_layers=3,
         num_heads=3, head_dims=100, num_cross_layers=3, cross_head_dims=50, num_classes=150,
         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
