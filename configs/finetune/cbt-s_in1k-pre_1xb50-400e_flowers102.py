# CBT-S (ImageNet-1K, the authors' checkpoint converted with
# tools/model_converters/cbt_cls2mmseg.py) fine-tuned on Oxford Flowers-102, Table 3's recipe:
# AdamW lr 1e-4, weight decay 0.01, cosine, 400 epochs, batch 50, RandAugment n=2 m=14,
# 224x224. The encoder is loaded, the head starts fresh at 102 classes.
_base_ = [
    '../_base_/models/classifier_finetune.py', '../_base_/datasets/flowers102_bs50.py',
    '../_base_/schedules/finetune_adamw_cosine.py', '../_base_/default_runtime_mmpretrain.py'
]
checkpoint = 'checkpoints/cbt-s_in1k.pth'
model = dict(
    # the authors' CBT classifiers pool a grid shifted by one token
    backbone=dict(
        type='CBT', arch='s', legacy_cls_pooling=True, init_cfg=dict(checkpoint=checkpoint)),
    head=dict(num_classes=102, in_channels=384))
