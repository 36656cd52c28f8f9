# tiny_cbt with mmseg's Segmenter head in place of the CBT head (1 layer,
# 2 heads, width 16): the black-box decoder on the same encoder and data.
_base_ = ['./tiny_cbt.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegmenterMaskTransformerHead',
        in_channels=16,
        channels=16,
        num_layers=1,
        num_heads=2,
        embed_dims=16,
        dropout_ratio=0.0,
        num_classes=6,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
