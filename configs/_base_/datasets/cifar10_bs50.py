# mmpretrain's CIFAR-10 (the python pickle batches under data/cifar10) with the
# authors' fine-tuning pipeline (CBSA_image_classification/finetune.py): the
# 32x32 images random-resized-cropped to 224 (torchvision's defaults: scale
# 0.08-1, PIL bilinear) and flipped, RandAugment n=2 m=14, ImageNet
# normalisation; the test images resized to 224x224. Batch 50 on one GPU
# (test batch 100). CIFAR arrays are already RGB.
# Network at run time: mmpretrain's CIFAR10 / CIFAR100 default to download=True,
# so when data_root lacks the archive's files (or their md5 sums differ) the
# main process downloads and extracts them from www.cs.toronto.edu. To stay
# offline, put cifar-10-batches-py/ there first, and/or add --cfg-options
# {train,val,test}_dataloader.dataset.download=False (docs/finetune.md). Not set
# here: flowers102_bs50.py / oxford_pets_bs50.py inherit these dataloaders and
# their classes take no `download`.
_base_ = ['mmpretrain::_base_/datasets/cifar10_bs16.py', './randaugment_n2m14.py']
data_preprocessor = dict(
    num_classes=10, mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], to_rgb=False)
train_pipeline = [
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.rand_augment}},
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='Resize', scale=(224, 224), backend='pillow', interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=50, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=100, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
