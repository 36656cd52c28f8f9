# mmseg's ADE20K (512x512 crops) at 1 image per GPU, Segmenter's total batch 8
# on 8 GPUs; on fewer GPUs raise batch_size so that the total stays 8.
_base_ = ['mmseg::_base_/datasets/ade20k.py']
train_dataloader = dict(batch_size=1, num_workers=4)
val_dataloader = dict(batch_size=1, num_workers=4)
test_dataloader = val_dataloader
