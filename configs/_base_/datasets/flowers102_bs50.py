# mmpretrain's Oxford Flowers-102 (data/flowers102: jpg/, imagelabels.mat,
# setid.mat as downloaded), the authors' splits (torchvision's): train on the
# 1020 'train' images, test on the 6149 'test' images. The augmentation is
# cifar10_bs50.py's on the image files (read as BGR, hence to_rgb).
_base_ = ['./cifar10_bs50.py']
dataset_type = 'Flowers102'
data_preprocessor = dict(num_classes=102, to_rgb=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bilinear'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    {{_base_.rand_augment}},
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(224, 224), backend='pillow', interpolation='bilinear'),
    dict(type='PackInputs'),
]
data_root = 'data/flowers102'
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type=dataset_type,
        data_root=data_root,
        split='train',
        pipeline=train_pipeline))
val_dataloader = dict(
    dataset=dict(
        _delete_=True, type=dataset_type, data_root=data_root, split='test',
        pipeline=test_pipeline))
test_dataloader = val_dataloader
