# The quickstart with mmseg's Segmenter head (2 transformer layers with FFN,
# 2 heads) in place of the CBT decoder: same ViT/8 encoder, data, schedule
# and seed, so that the two decoders can be compared (e.g. by
# tools/analysis_tools/perturbation.py, paper Fig. 8).
_base_ = ['./cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='SegmenterMaskTransformerHead',
        in_channels=128,
        channels=128,
        num_layers=2,
        num_heads=2,
        embed_dims=128,
        dropout_ratio=0.0,
        num_classes=6,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)))
