# ImageNet-1K classification with mmpretrain, the paper's recipe (appendix C):
# 150 epochs, Lion (lr 2e-4, weight decay 0.05), total batch 256 (8 GPUs x 32
# images of mmpretrain's imagenet_bs32), warm-up then cosine decay.
# Train with the same tool: python tools/train.py CONFIG  (or tools/dist_train.sh CONFIG 8)
optim_wrapper = dict(
    optimizer=dict(type='Lion', lr=2e-4, weight_decay=0.05),
    paramwise_cfg=dict(custom_keys={
        'cls_token': dict(decay_mult=0.0),
        'pos_embed': dict(decay_mult=0.0)
    }))
param_scheduler = [
    # the authors warm up linearly over 20 epochs, then decay by a cosine
    dict(
        type='LinearLR',
        start_factor=0.05,
        by_epoch=True,
        begin=0,
        end=20,
        convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=130, by_epoch=True, begin=20, end=150)
]
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
