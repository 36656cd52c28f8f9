# Quickstart: a small ViT/8 encoder + CBT decoder trained from scratch on the
# embedded miniature ADE20K (written to data/mini_ade20k on first use).
# About 10 minutes on 2 CPU cores; leaves work_dirs/<name>/iter_1000.pth and
# prediction overlays in work_dirs/<name>/overlays/.
_base_ = [
    '../_base_/models/vit-s16_cbt.py', '../_base_/datasets/mini_ade20k.py',
    'mmseg::_base_/default_runtime.py'
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
        in_channels=128, num_layers=2, num_heads=2, head_dims=32, rep_grid=8, num_classes=6),
    test_cfg=dict(_delete_=True, mode='whole'))

optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=1.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='PolyLR', eta_min=1e-5, power=0.9, by_epoch=False, begin=50, end=1000)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1000, val_interval=500)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=500, max_keep_ckpts=2),
    visualization=dict(type='OverlayHook', num_images=4))
randomness = dict(seed=0)
