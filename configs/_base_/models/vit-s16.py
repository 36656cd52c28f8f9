# ViT-S/16 encoder in Segmenter's layout, shared by every decoder
# (models/{cbt,depict-sa,depict-ca,segmenter}_vit-s16.py add the decode head).
custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)

data_preprocessor = dict(
    type='SegDataPreProcessor',
    # ViT (augreg) normalisation: (x - 127.5) / 127.5
    mean=[127.5, 127.5, 127.5],
    std=[127.5, 127.5, 127.5],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(512, 512))
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ViT',
        arch='s',
        # Segmenter's layout: the position embedding lives at the crop size; the
        # 384-pixel timm weights are resampled once, on load
        img_size=512,
        patch_size=16,
        drop_path_rate=0.1,
        # the authors' encoder (Segmenter's ViT): PyTorch LayerNorm eps and
        # bilinear position-embedding resizing
        norm_eps=1e-5,
        interpolate_mode='bilinear',
        final_norm=True),
    train_cfg=dict(),
    # the authors' published numbers (Segmenter's eval/miou.py): windows of the
    # crop size at stride crop - 32
    test_cfg=dict(mode='slide', crop_size=(512, 512), stride=(480, 480)))
