# ViT-S/16 encoder + mmseg's own SegmenterMaskTransformerHead (2 transformer
# layers with FFN, 6 heads, width 384): the Segmenter baseline decoder.
_base_ = ['./vit-s16.py']
model = dict(
    decode_head=dict(
        type='SegmenterMaskTransformerHead',
        in_channels=384,
        channels=384,
        num_layers=2,
        num_heads=6,
        embed_dims=384,
        dropout_ratio=0.0,
        num_classes=150,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
