# MiTA-Segmenter (QishuaiWen/MiTA, MiTA-Segmenter/): the authors' setting on
# ADE20K, docs/mita.md and the recipe card in docs/recipes.md. Their README trains
# --backbone vit_tiny_patch16_384 --decoder mask_transformer, where every encoder
# block attends with MiTA (segm/model/enc_blocks.py imports MiTA_Attention as
# Attention) and the "mask_transformer" decoder is the CBSA one (segm/model/
# dec_blocks.py: 3 layers, 3 heads x 100, 10x10 representatives), i.e. our CBT-T
# with MiTA in the encoder; data and schedule are Segmenter's, as for CBT.
_base_ = ['../cbt/cbt_vit-t16_8xb1-160k_ade20k-512x512.py']
# pool_size 7 and topk 49 are hard-coded in their segm/model/mita/mita_attention.py;
# qkv_bias True there. Their pooling takes q[:, :-1] as the square grid ([CLS] in
# it, the last patch out): legacy_cls_pooling.
mita = dict(type='MiTA', pool_size=7, topk=49, router_scale='code', qkv_bias=True)
model = dict(backbone=dict(legacy_cls_pooling=True, attn_cfg=[mita] * 12))
