# Example: the CBT-S decoder on mmseg's Swin-T (patch 4, window 7, ImageNet-1K
# weights), ADE20K, on the recipe of configs/cbt/ (Segmenter's: 512x512 crops,
# total batch 8, SGD 1e-3 poly, 161,728 iterations, sliding-window test 512 /
# stride 480) instead of mmseg's Swin recipe (AdamW 6e-5, batch 16), so that the
# encoder is the one difference from cbt_vit-s16_8xb1-160k_ade20k-512x512.
# Guide: docs/cbsa_in_your_model.md. No result was measured for it in this project.
#
# The encoder is Swin-T as mmseg's swin-tiny-patch4-window7-in1k-pre_upernet
# config sets it (mmseg::_base_/models/upernet_swin.py), initialised from the
# Swin-T checkpoint that OpenMMLab converted to mmseg's layout (mmengine
# downloads it on first use; tools/model_converters/swin2mmseg.py of mmseg
# converts the original one).
_base_ = [
    'mmseg::_base_/models/upernet_swin.py', '../_base_/datasets/ade20k_bs1.py',
    '../_base_/default_runtime.py', '../_base_/schedules/segmenter_160k.py'
]
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
crop_size = (512, 512)
checkpoint_file = 'https://download.openmmlab.com/mmsegmentation/v0.5/pretrain/swin/swin_tiny_patch4_window7_224_20220317-1cdeb081.pth'  # noqa
model = dict(
    # the model comes from an mmseg:: base, which tags it with mmseg's scope;
    # build it in ours, where CBTHead resolves (and mmseg's types still do)
    _scope_='mmseg_cbsa',
    data_preprocessor=dict(size=crop_size),  # mmseg's ImageNet mean / std stay
    backbone=dict(
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint_file),
        pretrain_img_size=224,
        embed_dims=96,
        depths=[2, 2, 6, 2],
        num_heads=[3, 6, 12, 24],
        window_size=7,
        use_abs_pos_embed=False,
        drop_path_rate=0.3,
        patch_norm=True,
        # Swin-T's stages are 96, 192, 384, 768 channels at 1/4, 1/8, 1/16,
        # 1/32. Output only the last: Swin adds a LayerNorm per output stage,
        # and norms the head does not read get no gradient, which stops a
        # distributed run (DDP) unless find_unused_parameters=True.
        out_indices=(3, )),
    decode_head=dict(
        _delete_=True,
        type='CBTHead',
        # in_index counts in the tuple the backbone returns: its one map, stage
        # 4, 768-wide tokens on a 16x16 grid at 512x512. CBTHead reads one map
        # (it does not take input_transform='resize_concat'); no projection is
        # needed: every CBSA layer projects onto its 3 heads x 100 itself.
        in_index=0,
        in_channels=768,
        num_classes=150,
        # the CBT-S decoder of configs/_base_/models/cbt_vit-s16.py (the
        # CBTHead defaults: 3 layers, 3 heads x 100, 10x10 representatives)
        # and its loss, averaged over the labelled pixels
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0, avg_non_ignore=True)),
    # mmseg's Swin models add an FCN head on stage 3 (loss weight 0.4); the
    # CBT configs have none, so neither does this one
    auxiliary_head=None,
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(480, 480)))
