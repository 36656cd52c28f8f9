# mmseg's Pascal Context (59 classes, background ignored) with the authors'
# Segmenter recipe (their segm/config.yml, pascal_context): images rescaled
# to short side 520 (Segmenter's (max_ratio 8 x 520, 520) keep-ratio scale),
# 480x480 crops, total batch 16 = 8 GPUs x 2 (on fewer GPUs raise batch_size
# so that the total stays 16), sliding-window test with 480 windows, stride 448.
# Segmenter counts 60 classes (background as a class); mmseg's 59-class
# protocol, the one papers report, ignores it.
# LoadCheckedAnnotations (mmseg_cbsa.datasets.transforms) is mmseg's
# LoadAnnotations plus a check naming the file of a corrupt label map.
_base_ = ['mmseg::_base_/datasets/pascal_context_59.py']
num_classes = 59
img_scale = (4160, 520)
crop_size = (480, 480)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=num_classes),
    dict(type='RandomResize', scale=img_scale, ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    # after Resize: the ground truth keeps the image's original size
    dict(type='LoadCheckedAnnotations', num_classes=num_classes),
    dict(type='PackSegInputs')
]
# our scope for the datasets: the mmseg:: base tags them with mmseg's, which
# does not know LoadCheckedAnnotations. Label 0 (background) is ignored: said by
# the dataset, as mmseg asks (LoadAnnotations' own reduce_zero_label is deprecated)
train_dataloader = dict(
    batch_size=2,
    dataset=dict(_scope_='mmseg_cbsa', reduce_zero_label=True, pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(_scope_='mmseg_cbsa', reduce_zero_label=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
# the leaves set the model's side of the recipe: decode_head num_classes, the
# crop (data_preprocessor size, backbone img_size) and the test windows
