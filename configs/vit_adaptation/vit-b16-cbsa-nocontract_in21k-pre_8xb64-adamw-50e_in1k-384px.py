# Fig. 9 as the authors' script runs it: CBSA without contraction on 384 x 384 images.
# CBSA_finetune_vit/main.py crops 384 for training and resizes the short edge to 438, then
# centre-crops 384 for evaluation (main.py:286,310-311), on timm's vit_*_patch16_384 weights
# (a 24 x 24 patch grid; the 8 x 8 representatives pool 3 x 3 patches each). Torchvision
# resizes PIL images there, hence the pillow backend. Same recipe as the 224 leaf otherwise.
_base_ = ['./vit-b16-cbsa-nocontract_in21k-pre_8xb64-adamw-50e_in1k.py']
load_from = 'checkpoints/vit-b16-384_in21k-ft-in1k_adapted.pth'
model = dict(backbone=dict(img_size=384))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=438, edge='short', backend='pillow'),
    dict(type='CenterCrop', crop_size=384),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
