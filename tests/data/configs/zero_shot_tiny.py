# configs/zero_shot/cbt-s_in1k_voc12-zero-shot.py on a tiny CBT and 64x64
# images; data_root and the checkpoint are set by the test.
_base_ = ['../../../configs/zero_shot/cbt-s_in1k_voc12-zero-shot.py']
model = dict(backbone=dict(arch=(32, 2, 2), img_size=64, attn_cfg=dict(type='CBSA', rep_grid=2)))
test_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(64, 64), keep_ratio=True),
        dict(type='LoadAnnotations'),
        dict(type='PackSegInputs')
    ]))
default_hooks = dict(logger=dict(interval=1))
