# torchvision's RandAugment(num_ops=2, magnitude=14), the authors' fine-tuning
# augmentation (CBSA_image_classification/finetune.py), in mmpretrain's
# transforms: the same 14 operations (one of them the identity), each applied
# whenever drawn (prob 1) with a random sign, magnitude 14 of torchvision's 31
# bins (0..30, so total_level 30), zero fill. Inherited by the fine-tuning
# dataset bases (*_bs50.py), which place it in their pipelines.
_signed = dict(prob=1.0, random_negative_prob=0.5)
rand_augment = dict(
    type='RandAugment',
    num_policies=2,
    magnitude_level=14,
    total_level=30,
    hparams=dict(pad_val=0),
    policies=[
        dict(type='Equalize', prob=0.0),  # torchvision's 'Identity'
        dict(type='Shear', magnitude_range=(0, 0.3), direction='horizontal', **_signed),
        dict(type='Shear', magnitude_range=(0, 0.3), direction='vertical', **_signed),
        # torchvision translates by up to 150/331 of the image size
        dict(type='Translate', magnitude_range=(0, 150 / 331), direction='horizontal', **_signed),
        dict(type='Translate', magnitude_range=(0, 150 / 331), direction='vertical', **_signed),
        dict(type='Rotate', magnitude_range=(0, 30), **_signed),
        dict(type='Brightness', magnitude_range=(0, 0.9), **_signed),
        dict(type='ColorTransform', magnitude_range=(0, 0.9), **_signed),
        dict(type='Contrast', magnitude_range=(0, 0.9), **_signed),
        dict(type='Sharpness', magnitude_range=(0, 0.9), **_signed),
        # mmpretrain rounds the bits up: ceil(7.5 - 4 m / 30) = 8 - round(m / 7.5),
        # torchvision's bits
        dict(type='Posterize', magnitude_range=(7.5, 3.5), prob=1.0),
        dict(type='Solarize', magnitude_range=(255, 0), prob=1.0),
        dict(type='AutoContrast', prob=1.0),
        dict(type='Equalize', prob=1.0),
    ])
