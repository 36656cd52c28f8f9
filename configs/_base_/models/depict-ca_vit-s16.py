# ViT-S/16 encoder + DEPICT-CA decoder (3 tied-MSSA layers on patches, 3
# cross-attention layers 3 x 50 for the class embeddings).
_base_ = ['./vit-s16.py']
model = dict(
    decode_head=dict(
        type='DEPICTHead',
        mode='ca',
        in_channels=384,
        num_layers=3,
        num_heads=3,
        head_dims=100,
        num_cross_layers=3,
        cross_head_dims=50,
        num_classes=150,
        # the authors' loss (Segmenter's engine.py: torch's CrossEntropyLoss with
        # ignore_index 255) averages over the labelled pixels; mmseg's default
        # (avg_non_ignore=False) divides by every pixel, ignored ones included
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)))
