# Segmenter's published Seg-L-Mask/16 recipe on ADE20K (rstrudel/segmenter README:
# ViT-L/16 trained and evaluated at 640x640): the ViT-L leaf at 640 crops, the
# training scale (4 x 640, 640), 640 windows at stride 608 (crop - 32). The 512 leaf
# beside it keeps every decoder on equal terms (the CBSA authors' config.yml).
_base_ = ['./segmenter_vit-l16_8xb1-160k_ade20k-512x512.py']
crop_size = (640, 640)
img_scale = (2560, 640)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=150),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadCheckedAnnotations', num_classes=150),
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(img_size=crop_size),
    test_cfg=dict(mode='slide', crop_size=crop_size, stride=(608, 608)))
