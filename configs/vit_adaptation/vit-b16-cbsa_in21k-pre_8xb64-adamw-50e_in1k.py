# ViT-B/16 from timm (ImageNet-21k pre-trained, fine-tuned on ImageNet-1K), adapted
# into CBSA style (paper Fig. 9: every block's attention becomes QKVCBSA on the
# pretrained q/k/v and output projections) and fine-tuned on ImageNet-1K with the
# authors' recipe (CBSA_finetune_vit/main.py, README): AdamW lr 5e-5, weight decay
# 0.01 on every parameter, 50 epochs, total batch 512 (8 GPUs x 64), label smoothing
# 0.1, random resized crop + flip, ImageNet mean/std, mixed precision (--amp).
# Their lr factor per epoch is min((e + 1) / 10, cosine over 50 epochs), stepped
# once per epoch (WarmupCosineLR, docs/recipes.md).
# Checkpoint: tools/model_converters/vit2cbsa.py (docs/vit_adaptation.md); it keeps
# every tensor, the timm head included, and serves all three adaptations.
_base_ = [
    '../_base_/models/classifier_in1k.py', 'mmpretrain::_base_/datasets/imagenet_bs32.py',
    '../_base_/default_runtime_mmpretrain.py'
]
load_from = 'checkpoints/vit-b16_in21k-ft-in1k_adapted.pth'
model = dict(
    # this project's ViT, in the mmseg_cbsa scope
    backbone=dict(
        _delete_=True,
        _scope_='mmseg_cbsa',
        type='ViT',
        arch='b',
        img_size=224,
        patch_size=16,
        out_type='cls_token',
        attn_cfg=dict(type='QKVCBSA', rep_grid=8)),
    head=dict(in_channels=768))
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-5, betas=(0.9, 0.999), weight_decay=0.01))
param_scheduler = [
    dict(_scope_='mmseg_cbsa', type='WarmupCosineLR', warmup=10, T_max=50, by_epoch=True, end=50)
]
train_cfg = dict(by_epoch=True, max_epochs=50, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=512)
