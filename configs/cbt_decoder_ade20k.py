# Entry point: the CBT-S decoder on ViT-S/16 with Segmenter's ADE20K recipe.
# T, B and L variants: configs/cbt/cbt_vit-{t,b,l}16_8xb1-160k_ade20k-512x512.py
_base_ = ['./cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py']
