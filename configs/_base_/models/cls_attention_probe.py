# Zero-shot segmentation from [CLS] attention (paper appendix C): a frozen
# ImageNet classifier's encoder, the [CLS] attention of every layer. The
# leaves pick the encoder and its checkpoint.
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
model = dict(
    type='CLSAttentionProbe',
    layers=None,
    # ImageNet normalisation of the authors' classifiers
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255))
