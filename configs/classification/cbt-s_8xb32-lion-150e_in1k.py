# CBT-S on ImageNet-1K, the paper's recipe (see _base_in1k_lion-150e.py).
_base_ = ['./_base_in1k_lion-150e.py']
model = dict(
    backbone=dict(type='CBT', arch='s'),
    head=dict(in_channels=384))
