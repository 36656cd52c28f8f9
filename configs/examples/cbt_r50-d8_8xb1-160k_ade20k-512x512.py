# Example: the CBT-S decoder on mmseg's ResNet-50-V1c (dilated, output stride 8),
# ADE20K, on the recipe of configs/cbt/ (Segmenter's: 512x512 crops, total batch
# 8, SGD 1e-3 poly, 161,728 iterations, sliding-window test 512 / stride 480),
# so that the encoder is the one difference from cbt_vit-s16_8xb1-160k_ade20k-512x512.
# Guide: docs/cbsa_in_your_model.md. No result was measured for it in this project.
#
# The encoder is mmseg's own r50-d8, as all of mmseg's r50-d8 models configure
# it (mmseg::_base_/models/fcn_r50-d8.py: ResNetV1c, strides (1, 2, 1, 1),
# dilations (1, 1, 2, 4), SyncBN), initialised from open-mmlab://resnet50_v1c
# (ImageNet-1K; mmengine downloads it on first use).
# SyncBN: tools/train.py on one GPU or the CPU reverts it to BN by itself
# (mmengine's Runner does when the run is not distributed); to say so in the
# config: --cfg-options model.backbone.norm_cfg.type=BN
_base_ = [
    'mmseg::_base_/models/fcn_r50-d8.py', '../_base_/datasets/ade20k_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
crop_size = (512, 512)
pretrained = 'open-mmlab://resnet50_v1c'
model = dict(
    # the model comes from an mmseg:: base, which tags it with mmseg's scope;
    # build it in ours, where CBTHead resolves (and mmseg's types still do)
    _scope_='mmseg_cbsa',
    data_preprocessor=dict(size=crop_size),  # mmseg's ImageNet mean / std stay
    # the weights through the backbone's init_cfg, as the other leaves give them
    pretrained=None,
    backbone=dict(init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    decode_head=dict(
        _delete_=True,
        type='CBTHead',
        # the backbone returns its four stages (out_indices (0, 1, 2, 3)):
        # 256, 512, 1024, 2048 channels at 1/4, 1/8, 1/8, 1/8 of the image
        # (d8: stages 3 and 4 dilate instead of striding). The head reads the
        # last, most semantic one: 2048-wide tokens on a 64x64 grid at 512x512.
        # The head's width is the stage's, no projection is needed: every CBSA
        # layer projects the tokens onto its 3 heads x 100 (head_dims) itself.
        in_index=3,
        in_channels=2048,
        num_classes=150,
        # the CBT-S decoder of configs/_base_/models/cbt_vit-s16.py (the
        # CBTHead defaults: 3 layers, 3 heads x 100, 10x10 representatives)
        # and its loss, averaged over the labelled pixels
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    # mmseg's r50-d8 models add an FCN head on stage 3 (loss weight 0.4); the
    # CBT configs have none, so neither does this one
    auxiliary_head=None,
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(480, 480)))
