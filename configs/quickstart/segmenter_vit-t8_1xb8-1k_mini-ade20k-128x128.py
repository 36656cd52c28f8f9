# The quickstart with mmseg's Segmenter head (2 transformer layers with FFN,
# 2 heads) in place of the CBT decoder: same ViT/8 encoder, data, schedule
# and seed, so that the two decoders can be compared (e.g. by
# tools/analysis_tools/perturbation.py, paper Fig. 8).
_base_ = [
    '../_base_/models/segmenter_vit-s16.py', '../_base_/datasets/mini_ade20k.py',
    '../_base_/default_runtime.py', '../_base_/schedules/quickstart_1k.py'
]
crop_size = (128, 128)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        arch=(128, 4, 4),  # embed_dims, layers, heads
        img_size=128,
        patch_size=8,
        drop_path_rate=0.0),
    decode_head=dict(
        type='SegmenterMaskTransformerHead',
        in_channels=128,
        channels=128,
        num_layers=2,
        num_heads=2,
        embed_dims=128,
        num_classes=6,
        # a CPU recipe of its own, not the authors' (docs/recipes.md): mmseg's
        # head, its defaults and loss averaging, with which its figures were measured
        drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.1,
        loss_decode=dict(avg_non_ignore=False)),
    test_cfg=dict(_delete_=True, mode='whole'))
