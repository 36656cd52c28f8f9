# The quickstart recipe shrunk for tests: a 1-layer ViT and a 1-layer CBT
# head on 32x32 images, deterministic data pipeline (no random augmentation)
# so that an interrupted and resumed run can be compared with an
# uninterrupted one. data_root is set by the tests.
_base_ = ['../../../configs/quickstart/cbt_vit-t8_1xb8-1k_mini-ade20k-128x128.py']
crop_size = (32, 32)
generator = dict(num_train=8, num_val=2, size=32, seed=0)
pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # reduce_zero_label: the dataset's
    dict(type='PackSegInputs')
]
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(arch=(16, 1, 2), img_size=32, patch_size=8),
    decode_head=dict(
        in_channels=16,
        num_layers=1,
        num_heads=2,
        head_dims=8,
        attn_cfg=dict(type='CBSA', rep_grid=2)))
loader = dict(num_workers=0, persistent_workers=False)
train_dataloader = dict(
    batch_size=2, **loader, dataset=dict(generator=generator, pipeline=pipeline))
val_dataloader = dict(**loader, dataset=dict(generator=generator, pipeline=pipeline))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=4, val_interval=4)
default_hooks = dict(
    logger=dict(interval=1),
    checkpoint=dict(interval=2, max_keep_ckpts=-1),
    visualization=dict(num_images=1))
