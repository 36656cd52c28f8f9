# The embedded miniature ADE20K (generated on first use, 6 classes, 128x128).
# Label maps are loaded by LoadCheckedAnnotations (mmseg_cbsa.datasets.transforms):
# a corrupt file, a label map of another size than its image, or values that
# are not one of the num_classes classes or 255 are errors naming the file.
dataset_type = 'MiniADE20KDataset'
data_root = 'data/mini_ade20k'
crop_size = (128, 128)
generator = dict(num_train=400, num_val=50, size=128, seed=0)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCheckedAnnotations', num_classes=6),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.9),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadCheckedAnnotations', num_classes=6),
    dict(type='PackSegInputs')
]
# label 0 is 'other' (ignored): said by the dataset, as mmseg asks (its LoadAnnotations'
# own reduce_zero_label is deprecated); the annotation steps follow the dataset
dataset = dict(
    type=dataset_type,
    data_root=data_root,
    reduce_zero_label=True,
    generate=True,
    generator=generator)
train_dataloader = dict(
    batch_size=8,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **dataset,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **dataset,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
