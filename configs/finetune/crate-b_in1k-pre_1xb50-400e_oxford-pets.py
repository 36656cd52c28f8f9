# CRATE-B (ImageNet-1K, converted with cbt_cls2mmseg.py) fine-tuned on Oxford-IIIT Pets.
_base_ = ['./cbt-s_in1k-pre_1xb50-400e_oxford-pets.py']
checkpoint = 'checkpoints/crate-b_in1k.pth'
model = dict(
    backbone=dict(
        type='CRATE',
        arch='b',
        legacy_cls_pooling=False,  # no pooling in MSSA
        init_cfg=dict(checkpoint=checkpoint)),
    head=dict(in_channels=768))
