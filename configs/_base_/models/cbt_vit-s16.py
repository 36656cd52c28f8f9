# ViT-S/16 encoder + CBT decoder (3 CBSA layers, 3 heads x 100, 10x10
# representatives), as in the authors' Segmenter-based code.
_base_ = ['./vit-s16.py']
model = dict(
    decode_head=dict(
        type='CBTHead',
        in_channels=384,
        num_layers=3,
        num_heads=3,
        head_dims=100,
        attn_cfg=dict(type='CBSA', rep_grid=10),
        num_classes=150,
        # the authors' loss (Segmenter's engine.py: torch's CrossEntropyLoss with
        # ignore_index 255) averages over the labelled pixels; mmseg's default
        # (avg_non_ignore=False) divides by every pixel, ignored ones included
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)))
