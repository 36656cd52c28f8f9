# Segmenter's Pascal Context schedule: segmenter_160k.py's optimiser and decay
# over 256 epochs of ceil(4998 / 16) = 313 iterations = 80,128 iterations
# (the paper rounds to 80k); evaluated and checkpointed every 8k iterations.
_base_ = ['./segmenter_160k.py']
max_iters = 256 * 313
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
