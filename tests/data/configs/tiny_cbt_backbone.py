# tiny_cbt with a 2-block CBT encoder (CBSA + ISTA, 2x2 representatives)
# instead of the ViT, so that encoder blocks have CBSA extraction maps too.
_base_ = ['./tiny_cbt.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='CBT',
        arch=(16, 2, 2),
        img_size=32,
        patch_size=8,
        attn_cfg=dict(type='CBSA', rep_grid=2)))
