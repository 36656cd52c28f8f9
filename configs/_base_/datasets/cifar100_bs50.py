# mmpretrain's CIFAR-100 (data/cifar100) with the pipeline of cifar10_bs50.py.
# Downloaded at run time (cifar-100-python/) if missing: see cifar10_bs50.py.
_base_ = ['./cifar10_bs50.py']
dataset_type = 'CIFAR100'
data_preprocessor = dict(num_classes=100)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root='data/cifar100'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root='data/cifar100'))
test_dataloader = val_dataloader
