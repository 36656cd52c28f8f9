# CBT decoder on a CBT-S/16 encoder initialised from the authors' ImageNet-1K
# classifier, ADE20K, Segmenter's recipe (as the ViT-S leaf).
#
# Encoder weights: convert the authors' CBT-S classifier once with
#   python tools/model_converters/cbt_cls2mmseg.py SRC checkpoints/cbt-s_in1k.pth
# Whole-image inference instead of 512 windows (the model is linear in the
# tokens): --cfg-options model.test_cfg.mode=whole
_base_ = [
    '../_base_/models/cbt_cbt-s16.py', '../_base_/datasets/ade20k_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
pretrained = 'checkpoints/cbt-s_in1k.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
