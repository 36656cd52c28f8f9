# CRATE-S on ImageNet-1K, the paper's recipe: random resized crop + flip, Lion,
# 150 epochs, total batch 256.
_base_ = [
    '../_base_/models/classifier_in1k.py', 'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/schedules/imagenet_bs256_lion_150e.py', '../_base_/default_runtime_mmpretrain.py'
]
# the authors' MSSA models of their comparisons (models.py: CRATE_tiny / CRATE_small)
# use the CBT classifiers' convolutional stem, not CRATE's linear one
model = dict(backbone=dict(type='CRATE', arch='s', stem='conv'), head=dict(in_channels=384))
