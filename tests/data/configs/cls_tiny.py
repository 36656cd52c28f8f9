# configs/classification/cbt-t_... shrunk to a 2-class folder dataset of 32x32
# images (data_root set by the test): one epoch through tools/train.py.
_base_ = ['../../../configs/classification/cbt-t_8xb32-lion-150e_in1k.py']
model = dict(
    data_preprocessor=dict(num_classes=2),
    backbone=dict(arch=(32, 2, 2), img_size=32, attn_cfg=dict(type='CBSA', rep_grid=2)),
    head=dict(num_classes=2, in_channels=32, topk=(1, )))
data_preprocessor = dict(num_classes=2)
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=32),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        type='CustomDataset',
        data_root='',
        data_prefix='',
        ann_file='',
        pipeline=pipeline,
        _delete_=True))
val_dataloader = None
val_evaluator = None
val_cfg = None
test_dataloader = None
test_evaluator = None
test_cfg = None
train_cfg = dict(max_epochs=1, val_interval=1)
default_hooks = dict(logger=dict(interval=1))
