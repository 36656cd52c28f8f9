# Segmenter's schedule for Pascal Context: SGD lr 1e-3, momentum 0.9, no
# weight decay, polynomial decay (power 0.9) to 1e-5, over 80k iterations:
# 256 epochs of 4998 training images at batch 16 = 256 x 312.4 = 79,968
# iterations (Segmenter's paper rounds it to 80k). Evaluated and checkpointed
# every 8k iterations.
_base_ = ['./segmenter_160k.py']
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=80000, by_epoch=False)]
train_cfg = dict(max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000))
