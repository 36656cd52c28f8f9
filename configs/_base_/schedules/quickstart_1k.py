# The quickstart's schedule: AdamW lr 1e-3 (weight decay 0.01, gradients
# clipped at norm 1), 50 iterations of linear warm-up then polynomial decay
# (power 0.9) to 1e-5 over 1k iterations, evaluated and checkpointed every 500;
# prediction overlays written by OverlayHook. The seed is fixed so that runs
# (and the quickstart's decoders) compare.
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
