# ViT-B/16 adapted into CBSA style and fine-tuned on ImageNet-1K
# (./vit-b16-cbsa_in21k-pre_8xb64-adamw-50e_in1k.py), then fine-tuned on CIFAR-100
# with Table 3's recipe, as ../finetune/vit-s_in1k-pre_1xb50-400e_cifar100.py. The
# encoder is read from that run's checkpoint (backbone.*; the converted checkpoint
# works too); the head starts fresh.
_base_ = ['../finetune/vit-s_in1k-pre_1xb50-400e_cifar100.py']
checkpoint = 'checkpoints/vit-b16-cbsa_in1k.pth'
model = dict(
    backbone=dict(
        arch='b',
        attn_cfg=dict(type='QKVCBSA', rep_grid=8),
        init_cfg=dict(prefix='backbone.', checkpoint=checkpoint)),
    head=dict(in_channels=768))
