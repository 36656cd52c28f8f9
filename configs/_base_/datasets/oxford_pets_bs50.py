# mmpretrain's Oxford-IIIT Pets (data/oxford_pets: images/, annotations/
# trainval.txt and test.txt as downloaded), the authors' splits (torchvision's):
# train on 'trainval' (3680 images), test on 'test' (3669), 37 breeds, with
# the pipeline of flowers102_bs50.py.
_base_ = ['./flowers102_bs50.py']
dataset_type = 'OxfordIIITPet'
data_root = 'data/oxford_pets'
data_preprocessor = dict(num_classes=37)
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='trainval'))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
