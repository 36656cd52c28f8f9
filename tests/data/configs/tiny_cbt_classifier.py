# configs/classification/cbt-s_... (an mmpretrain ImageClassifier) shrunk to
# a 1-block CBT (2x2 representatives) on 32x32 inputs and 10 classes, for
# the attention demo with random weights.
_base_ = ['../../../configs/classification/cbt-s_8xb32-lion-150e_in1k.py']
model = dict(
    backbone=dict(
        arch=(16, 1, 2), img_size=32, patch_size=8, attn_cfg=dict(type='CBSA', rep_grid=2)),
    head=dict(num_classes=10, in_channels=16, topk=(1, )))
data_preprocessor = dict(num_classes=10)
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='ResizeEdge', scale=32, edge='short'),
        dict(type='CenterCrop', crop_size=32),
        dict(type='PackInputs')
    ]))
