# CBT-B (ImageNet-1K, converted with cbt_cls2mmseg.py) fine-tuned on CIFAR-100.
_base_ = ['./cbt-s_in1k-pre_1xb50-400e_cifar100.py']
checkpoint = 'checkpoints/cbt-b_in1k.pth'
model = dict(
    backbone=dict(type='CBT', arch='b', init_cfg=dict(checkpoint=checkpoint)),
    head=dict(in_channels=768))
