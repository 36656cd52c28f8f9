# ImageNet-1K classification with mmpretrain, the authors' recipe
# (CBSA_image_classification/main.py and its README command; docs/recipes.md):
# 150 epochs, Lion (lr 2e-4, weight decay 0.05 on every parameter, the position
# embedding and [CLS] token included), total batch 256 (8 GPUs x 32 images of
# mmpretrain's imagenet_bs32), lr factor min((e + 1) / 20, cosine over the 150
# epochs) stepped once per epoch.
# Train with the same tool: python tools/train.py CONFIG  (or tools/dist_train.sh CONFIG 8)
optim_wrapper = dict(optimizer=dict(type='Lion', lr=2e-4, weight_decay=0.05))
param_scheduler = [
    dict(_scope_='mmseg_cbsa', type='WarmupCosineLR', warmup=20, T_max=150, by_epoch=True, end=150)
]
train_cfg = dict(by_epoch=True, max_epochs=150, val_interval=5)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
