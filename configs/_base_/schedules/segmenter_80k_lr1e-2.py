# Segmenter's Cityscapes schedule: segmenter_80k.py at lr 1e-2, over 216 epochs
# of ceil(2975 / 8) = 372 iterations = 80,352 iterations.
_base_ = ['./segmenter_80k.py']
max_iters = 216 * 372
optim_wrapper = dict(optimizer=dict(lr=1e-2))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters)
