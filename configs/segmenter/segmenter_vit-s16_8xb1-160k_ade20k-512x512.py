# Segmenter baseline: mmseg's own SegmenterMaskTransformerHead (2 transformer
# layers with FFN), on the same encoder and recipe as the CBT decoder, on ViT-S/16, ADE20K,
# Segmenter's recipe (see ../cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py).
_base_ = ['../cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py']
model = dict(
    decode_head=dict(_delete_=True, type='SegmenterMaskTransformerHead', in_channels=384, channels=384,
         num_layers=2, num_heads=6, embed_dims=384, dropout_ratio=0.0, num_classes=150,
         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
