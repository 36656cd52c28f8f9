# CBT-S ImageNet-1K classifier (the authors', converted with
# tools/model_converters/cbt_cls2mmseg.py), zero-shot on VOC12 val.
_base_ = [
    '../_base_/models/cls_attention_probe.py', '../_base_/datasets/pascal_voc12_zero_shot.py',
    '../_base_/zero_shot_runtime.py'
]
checkpoint = 'checkpoints/cbt-s_in1k.pth'
model = dict(
    backbone=dict(
        type='CBT',
        arch='s',
        img_size=224,
        legacy_cls_pooling=True,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, prefix='backbone.')))
