# tiny_cbt with mmseg's SegFormer encoder (one stage, stride 4), which has no
# [CLS] token: the CBT head still has CBSA layers, the encoder no [CLS] maps.
_base_ = ['./tiny_cbt.py']
model = dict(
    backbone=dict(
        _delete_=True,
        type='MixVisionTransformer',
        in_channels=3,
        embed_dims=8,
        num_stages=1,
        num_layers=[1],
        num_heads=[1],
        patch_sizes=[7],
        strides=[4],
        sr_ratios=[1],
        out_indices=(0, )),
    decode_head=dict(in_channels=8))
