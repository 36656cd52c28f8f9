# CBT-S/16 encoder (the authors' ImageNet-1K classifier, converted with
# tools/model_converters/cbt_cls2mmseg.py) + the CBT decoder: CBSA in the
# encoder and in the decoder, so the segmentor is linear in the tokens.
_base_ = ['./cbt_vit-s16.py']
model = dict(
    # the classifiers were trained on ImageNet-normalised RGB
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    backbone=dict(
        _delete_=True,
        type='CBT',
        arch='s',
        # the position embedding lives at the crop size; the classifier's
        # 14x14 (224 px) one is resampled once, on load
        img_size=512,
        patch_size=16,
        # the authors' classifiers pool the patch grid from token 0
        legacy_cls_pooling=True,
        # one image per GPU: the stem's BatchNorm keeps its ImageNet statistics
        norm_eval=True))
