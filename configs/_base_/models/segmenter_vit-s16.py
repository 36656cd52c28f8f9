# ViT-S/16 encoder + Segmenter's mask transformer (2 transformer layers with
# FFN, 6 heads, width 384): mmseg's SegmenterMaskTransformerHead with Segmenter's
# own initialisation (SegmenterHead) and regularisation, the baseline decoder as
# Segmenter trains it (docs/recipes.md).
_base_ = ['./vit-s16.py']
model = dict(
    decode_head=dict(
        type='SegmenterHead',
        in_channels=384,
        channels=384,
        num_layers=2,
        num_heads=6,
        embed_dims=384,
        dropout_ratio=0.0,
        # Segmenter's decoder (its config.yml): dropout 0.1 in attention,
        # projection and FFN, no drop path (mmseg's head defaults to 0 / 0.1)
        drop_rate=0.1,
        attn_drop_rate=0.1,
        drop_path_rate=0.0,
        num_classes=150,
        # the authors' loss (Segmenter's engine.py: torch's CrossEntropyLoss with
        # ignore_index 255) averages over the labelled pixels; mmseg's default
        # (avg_non_ignore=False) divides by every pixel, ignored ones included
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)))
