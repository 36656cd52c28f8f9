# Segmenter's ADE20K schedule, as the authors' code runs it (Segmenter's
# train.py with timm 0.4.12's create_optimizer, docs/recipes.md): SGD lr 1e-3,
# momentum 0.9 with Nesterov (timm's 'sgd'), no weight decay; polynomial decay
# (power 0.9) to 1e-5, stepped every iteration, over 64 epochs of
# ceil(20210 / 8) = 2527 iterations = 161,728 iterations (the paper rounds to
# 160k); evaluated and checkpointed every 16k iterations.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

max_iters = 64 * 2527
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, nesterov=True, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
train_cfg = dict(max_iters=max_iters)
