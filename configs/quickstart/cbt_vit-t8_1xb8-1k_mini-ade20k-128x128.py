# Quickstart: a small ViT/8 encoder + CBT decoder trained from scratch on the
# embedded miniature ADE20K (written to data/mini_ade20k on first use).
# About 4 minutes on 2 CPU cores (measured, with the command: docs/get_started.md);
# training logs one line every 25 iterations (no progress bar). Leaves
# work_dirs/<name>/iter_1000.pth and prediction overlays in work_dirs/<name>/overlays/.
_base_ = [
    '../_base_/models/cbt_vit-s16.py', '../_base_/datasets/mini_ade20k.py',
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
        in_channels=128,
        num_layers=2,
        num_heads=2,
        head_dims=32,
        attn_cfg=dict(type='CBSA', rep_grid=8),
        num_classes=6,
        # a CPU recipe of its own, not the authors' (docs/recipes.md): it keeps
        # mmseg's loss averaging, with which its figures were measured
        loss_decode=dict(avg_non_ignore=False)),
    test_cfg=dict(_delete_=True, mode='whole'))
