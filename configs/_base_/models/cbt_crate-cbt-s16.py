# CRATE+CBT-S/16 encoder (MSSA in layers 1-6, CBSA in 7-12; the authors'
# ImageNet-1K classifier, converted) + the CBT decoder.
_base_ = ['./cbt_cbt-s16.py']
model = dict(backbone=dict(type='CRATECBT'))
