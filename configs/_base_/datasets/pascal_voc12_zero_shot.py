# Pascal VOC 2012 val for zero-shot segmentation (paper appendix C): 60% of
# the [CLS] attention mass per head, Jaccard against foreground / background /
# boundary.
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(480, 480), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path='SegmentationClass'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_evaluator = dict(type='ZeroShotCLSMetric', patch_size=16, share=0.6)
