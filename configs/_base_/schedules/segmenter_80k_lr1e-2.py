# Segmenter's schedule for Cityscapes: segmenter_80k.py at lr 1e-2. 216 epochs
# of 2975 training images at batch 8 = 216 x 371.9 = 80,325 iterations, i.e.
# the same 80k.
_base_ = ['./segmenter_80k.py']
optim_wrapper = dict(optimizer=dict(lr=1e-2))
