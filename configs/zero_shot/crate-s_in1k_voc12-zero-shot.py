# CRATE-S ImageNet-1K classifier (the authors', converted with
# tools/model_converters/cbt_cls2mmseg.py), zero-shot on VOC12 val.
_base_ = ['./_base_voc12.py']
checkpoint = 'checkpoints/crate-s_in1k.pth'
model = dict(backbone=dict(type='CRATE', arch='s', img_size=224, stem='conv',
                           init_cfg=dict(type='Pretrained', checkpoint=checkpoint,
                                         prefix='backbone.')))
