# ImageNet-1K classification with mmpretrain, the paper's recipe (appendix C):
# 150 epochs, Lion (lr 2e-4, weight decay 0.05), total batch 256, warm-up then
# cosine decay, random resized crop + flip, label smoothing 0.1.
# Train with the same tool: python tools/train.py CONFIG  (or tools/dist_train.sh CONFIG 8)
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py', 'mmpretrain::_base_/default_runtime.py'
]
default_scope = 'mmpretrain'
model = dict(
    type='ImageClassifier',
    backbone=dict(type='CBT', arch='s', img_size=224, out_type='cls_token'),
    neck=None,
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))
# 8 GPUs x 32 images = 256
train_dataloader = dict(batch_size=32)
optim_wrapper = dict(
    optimizer=dict(type='Lion', lr=2e-4, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={'cls_token': dict(decay_mult=0.0),
                                    'pos_embed': dict(decay_mult=0.0)}))
param_scheduler = [
    # the authors warm up linearly over 20 epochs, then decay by a cosine
    dict(type='LinearLR', start_factor=0.05, by_epoch=True, begin=0, end=20,
         convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=130, by_epoch=True, begin=20, end=150)
]
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
