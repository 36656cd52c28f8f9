# mmseg's ADE20K (512x512 crops) at 1 image per GPU, Segmenter's total batch 8
# on 8 GPUs; on fewer GPUs raise batch_size so that the total stays 8.
# The pipelines are mmseg's with LoadAnnotations replaced by
# LoadCheckedAnnotations (mmseg_cbsa.datasets.transforms): a corrupt label
# map, one of another size than its image, or values that are not one of the
# 150 classes or 255 are errors naming the file.
_base_ = ['mmseg::_base_/datasets/ade20k.py']
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=150),
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    # after Resize: the ground truth is not resized (it is checked against the
    # image's original size)
    dict(type='LoadCheckedAnnotations', num_classes=150),
    dict(type='PackSegInputs')
]
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='Resize', scale_factor=r, keep_ratio=True) for r in img_ratios],
                    [
                        dict(type='RandomFlip', prob=0., direction='horizontal'),
                        dict(type='RandomFlip', prob=1., direction='horizontal')
                    ], [dict(type='LoadCheckedAnnotations', num_classes=150)],
                    [dict(type='PackSegInputs')]])
]
# our scope for the datasets: the mmseg:: base tags them with mmseg's, which
# does not know LoadCheckedAnnotations. Label 0 is 'other' (ignored): said by
# the dataset, as mmseg asks (LoadAnnotations' own reduce_zero_label is deprecated)
train_dataloader = dict(
    batch_size=1,
    num_workers=4,
    dataset=dict(_scope_='mmseg_cbsa', reduce_zero_label=True, pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    dataset=dict(_scope_='mmseg_cbsa', reduce_zero_label=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
