# mmseg's Cityscapes (19 classes, gtFine labelTrainIds) with the authors'
# Segmenter recipe (their segm/config.yml, cityscapes): images rescaled to
# (2048, 1024) with ratios 0.5-2.0, 768x768 crops, total batch 8 = 8 GPUs x 1
# (on fewer GPUs raise batch_size so that the total stays 8), sliding-window
# test on the 2048x1024 image with 768 windows, stride 736.
# LoadCheckedAnnotations (mmseg_cbsa.datasets.transforms) is mmseg's
# LoadAnnotations plus a check naming the file of a corrupt label map.
_base_ = ['mmseg::_base_/datasets/cityscapes.py']
num_classes = 19
crop_size = (768, 768)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=num_classes),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    # after Resize: the ground truth keeps the image's original size
    dict(type='LoadCheckedAnnotations', num_classes=num_classes),
    dict(type='PackSegInputs')
]
# our scope for the datasets: the mmseg:: base tags them with mmseg's, which
# does not know LoadCheckedAnnotations
train_dataloader = dict(batch_size=1, dataset=dict(_scope_='mmseg_cbsa', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(_scope_='mmseg_cbsa', pipeline=test_pipeline))
test_dataloader = val_dataloader
# the leaves set the model's side of the recipe: decode_head num_classes, the
# crop (data_preprocessor size, backbone img_size) and the test windows
