# CBT decoder on a CRATE+CBT-S/16 encoder initialised from the authors'
# ImageNet-1K classifier, ADE20K, Segmenter's recipe (as the ViT-S leaf).
#
# Encoder weights: convert the authors' CRATE+CBT-S classifier once with
#   python tools/model_converters/cbt_cls2mmseg.py SRC checkpoints/crate-cbt-s_in1k.pth
# Whole-image inference: --cfg-options model.test_cfg.mode=whole
_base_ = [
    '../_base_/models/cbt_crate-cbt-s16.py', '../_base_/datasets/ade20k_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
pretrained = 'checkpoints/crate-cbt-s_in1k.pth'
model = dict(
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained, prefix='backbone.')))
