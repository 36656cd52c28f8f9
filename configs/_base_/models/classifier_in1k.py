# ImageNet-1K classifier (mmpretrain's ImageClassifier), the authors'
# (CBSA_image_classification/models.py, main.py): the encoder's [CLS] token into
# a linear head, label smoothing 0.1, and their initialisation for training
# from scratch: PyTorch's defaults for every layer (the head included: no
# init_cfg) and N(0, 1) position embedding and [CLS] token (weight_init='torch').
# The leaves pick the encoder (type, arch) and the matching head width.
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        _scope_='mmseg_cbsa',
        type='CBT',
        arch='s',
        img_size=224,
        out_type='cls_token',
        weight_init='torch'),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5),
        init_cfg=None))
