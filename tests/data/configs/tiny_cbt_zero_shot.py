# zero_shot_tiny.py (the [CLS] probe of configs/zero_shot/cbt-s_...) with the
# 1-block CBT of tiny_cbt_classifier.py, so that the classifier's (converted)
# checkpoint fits it too; images are resized to at most 64x64.
_base_ = ['./zero_shot_tiny.py']
model = dict(backbone=dict(arch=(16, 1, 2), img_size=32, patch_size=8))
