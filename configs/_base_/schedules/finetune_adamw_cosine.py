# The authors' fine-tuning schedule (CBSA_image_classification/finetune.py;
# the paper, appendix C: AdamW, lr 1e-4, weight decay 0.01, batch 50): AdamW
# (betas 0.9/0.999, eps 1e-8, decay on every parameter), cosine annealing to 0
# over the script's default 400 epochs (the paper does not state the epochs),
# no warm-up, evaluated every epoch. The script steps its CosineAnnealingLR with
# step(epoch - 1) after each epoch: the cosine lags the epoch by two (offset=2). Batch 50 on one
# GPU (auto_scale_lr: the base batch for mmengine's learning-rate scaling).
# The script trains in mixed precision: tools/train.py --amp on a GPU.
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01))
param_scheduler = [
    dict(_scope_='mmseg_cbsa', type='WarmupCosineLR', T_max=400, offset=2, by_epoch=True, end=400)
]
train_cfg = dict(by_epoch=True, max_epochs=400, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=50)
