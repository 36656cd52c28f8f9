# Segmenter's ADE20K schedule: SGD lr 1e-3, momentum 0.9, no weight decay,
# polynomial decay (power 0.9) to 1e-5 over 160k iterations (64 epochs at
# batch 8), evaluated and checkpointed every 16k iterations.
_base_ = ['mmseg::_base_/schedules/schedule_160k.py']

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=1e-3, momentum=0.9, weight_decay=0.0),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=160000, by_epoch=False)
]
