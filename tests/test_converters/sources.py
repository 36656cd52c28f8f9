"""Source checkpoints for the converter tests, laid out as their authors'
modules name their tensors: Segmenter's ViT and the CBT / DEPICT decoders,
the authors' CBT / CRATE / ToST classifiers (random weights, any size), and
a tiny timm ViT."""
from typing import Dict, List, Sequence, Union

import torch
from torch import Tensor

SD = Dict[str, Tensor]


def _r(*shape, scale=0.05):
    return torch.randn(*shape) * scale


def _ln(sd: SD, key: str, d: int) -> None:
    sd[key + '.weight'] = 1 + _r(d, scale=0.1)
    sd[key + '.bias'] = _r(d, scale=0.1)


def segmenter_encoder(d=192, depth=12, grid=32, patch=16) -> SD:
    sd = {
        'patch_embed.proj.weight': _r(d, 3, patch, patch),
        'patch_embed.proj.bias': _r(d),
        'cls_token': _r(1, 1, d, scale=1),
        'pos_embed': _r(1, 1 + grid * grid, d, scale=0.5),
        'head.weight': _r(1000, d),
        'head.bias': _r(1000)
    }
    for i in range(depth):
        b = f'blocks.{i}.'
        _ln(sd, b + 'norm1', d), _ln(sd, b + 'norm2', d)
        sd.update({
            b + 'attn.qkv.weight': _r(3 * d, d),
            b + 'attn.qkv.bias': _r(3 * d),
            b + 'attn.proj.weight': _r(d, d),
            b + 'attn.proj.bias': _r(d),
            b + 'mlp.fc1.weight': _r(4 * d, d),
            b + 'mlp.fc1.bias': _r(4 * d),
            b + 'mlp.fc2.weight': _r(d, 4 * d),
            b + 'mlp.fc2.bias': _r(d)
        })
    _ln(sd, 'norm', d)
    return sd


def cbt_decoder(d=192, n_cls=150, layers=3, heads=3, p=100) -> SD:
    sd = {'cls_emb': _r(1, n_cls, d, scale=0.5)}
    for i in range(layers):
        pre = f'net.layers.{i}.'
        _ln(sd, pre + 'norm', d)
        sd.update({
            pre + 'fn.proj.weight': _r(heads * p, d, scale=0.1),
            pre + 'fn.step_x': torch.randn(heads, 1, 1),
            pre + 'fn.step_rep': torch.randn(heads, 1, 1),
            pre + 'fn.to_out.weight': _r(d, heads * p),
            pre + 'fn.to_out.bias': _r(d)
        })
    _ln(sd, 'decoder_norm', d), _ln(sd, 'mask_norm', n_cls)
    return sd


def depict_decoder(mode, d=192, n_cls=150, heads=3) -> SD:
    sd = {'cls_emb': _r(1, n_cls, d, scale=0.5)}
    stacks = [('net', 100)] if mode == 'sa' else [('snet', 100), ('cnet', 50)]
    for name, p in stacks:
        for i in range(3):
            pre = f'{name}.layers.{i}.'
            _ln(sd, pre + 'norm', d)
            sd[pre + 'fn.proj'] = torch.randn(heads * p, d) * d**-0.5
            sd[pre + 'fn.step_size'] = torch.randn(1)
    for key in (['decoder_norm'] if mode == 'sa' else ['snorm', 'cnorm']):
        _ln(sd, key, d)
    _ln(sd, 'mask_norm', n_cls)
    return sd


def segmentation_checkpoint(encoder: SD, decoder: SD) -> dict:
    """What the authors' Segmenter code saves (``checkpoint.pth``)."""
    model = {f'encoder.{k}': v for k, v in encoder.items()}
    model.update({f'decoder.{k}': v for k, v in decoder.items()})
    return {'model': model, 'optimizer': {'state': {}}, 'n_cls': 150, 'epoch': 63}


def classifier(kinds: Sequence[str], d=192, heads=3, n_cls=1000, grid=(14, 14)) -> SD:
    sd = {
        'cls_token': _r(1, 1, d, scale=1),
        'pos_embedding': _r(1, 1 + grid[0] * grid[1], d, scale=0.5),
        'mlp_head.1.weight': _r(n_cls, d),
        'mlp_head.1.bias': _r(n_cls)
    }
    widths = [3, d // 8, d // 4, d // 2, d]
    for j in range(4):
        pre = f'to_patch_embedding.proj.{2 * j}.'
        sd[pre + '0.weight'] = _r(widths[j + 1], widths[j], 3, 3, scale=0.3)
        sd[pre + '1.weight'] = 1 + _r(widths[j + 1], scale=0.1)
        sd[pre + '1.bias'] = _r(widths[j + 1], scale=0.1)
        sd[pre + '1.running_mean'] = _r(widths[j + 1], scale=0.1)
        sd[pre + '1.running_var'] = 1 + torch.rand(widths[j + 1])
        sd[pre + '1.num_batches_tracked'] = torch.tensor(1000)
    for i, kind in enumerate(kinds):
        pre = f'transformer.layers.{i}.'
        _ln(sd, pre + '0.norm', d), _ln(sd, pre + '1.norm', d)
        sd[pre + '1.fn.weight'] = _r(d, d, scale=0.1)
        sd[pre + '0.fn.to_out.weight'] = _r(d, d)
        sd[pre + '0.fn.to_out.bias'] = _r(d)
        if kind == 'CBSA':
            sd[pre + '0.fn.proj.weight'] = _r(d, d, scale=0.1)
            sd[pre + '0.fn.step_x'] = torch.randn(heads, 1, 1)
            sd[pre + '0.fn.step_rep'] = torch.randn(heads, 1, 1)
        else:
            sd[pre + '0.fn.qkv.weight'] = _r(d, d, scale=0.1)
            if kind == 'TSSA':
                sd[pre + '0.fn.temp'] = 1 + _r(heads, 1, scale=0.3)
    _ln(sd, 'mlp_head.0', d)
    return sd


def classifier_checkpoint(sd: SD, arch: str = 'CBT-S') -> dict:
    """What the authors' ImageNet script saves (``model_best.pth.tar``):
    DataParallel's ``module.`` prefix and training state beside it."""
    return {
        'epoch': 150,
        'arch': arch,
        'best_acc1': torch.tensor(71.4),
        'state_dict': {
            f'module.{k}': v
            for k, v in sd.items()
        }
    }


def timm_vit(img_size: Union[int, List[int]] = 32, depth: int = 3, num_classes: int = 5):
    """A timm ViT-T (width 192, 3 heads) of ``depth`` blocks, patch 8, with
    every tensor perturbed (timm starts biases at zero)."""
    import timm
    model = timm.create_model(
        'vit_tiny_patch16_224',
        pretrained=False,
        img_size=img_size,
        patch_size=8,
        depth=depth,
        num_classes=num_classes).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model
