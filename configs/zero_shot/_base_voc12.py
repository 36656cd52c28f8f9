# Zero-shot segmentation from [CLS] attention on Pascal VOC 2012 val (paper
# appendix C): a frozen ImageNet classifier's encoder, every layer, 60% of the
# attention mass per head, Jaccard against foreground / background / boundary.
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
default_scope = 'mmseg'
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
test_cfg = dict(type='TestLoop')
model = dict(
    type='CLSAttentionProbe',
    layers=None,
    # ImageNet normalisation of the authors' classifiers
    data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                           seg_pad_val=255))
env_cfg = dict(cudnn_benchmark=False, dist_cfg=dict(backend='nccl'))
log_processor = dict(by_epoch=False)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50), timer=dict(type='IterTimerHook'))
log_level = 'INFO'
custom_hooks = [dict(type='ProgressBarHook')]
