"""How a token backbone initialises itself for training from scratch.

``'timm'``: timm's ViT rule, trunc-normal(0.02) position embedding and Linear
weights, zero biases, a [CLS] token of std 1e-6. ``'torch'``: the authors'
white-box classifiers (CBSA_image_classification/models.py): every Linear,
convolution and normalisation layer at PyTorch's own initialisation, and
position embedding and [CLS] token drawn from N(0, 1) (``torch.randn``).
Layers with an initialisation of their own (ISTA dictionaries, CBSA and MSSA
step sizes, TSSA temperatures) keep it under both.
"""
from typing import Callable, Dict

from mmengine.model.weight_init import trunc_normal_
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


def timm_init(backbone: nn.Module) -> None:
    trunc_normal_(backbone.pos_embed, std=.02)
    nn.init.normal_(backbone.cls_token, std=1e-6)
    for m in backbone.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def torch_init(backbone: nn.Module) -> None:
    nn.init.normal_(backbone.pos_embed, std=1.0)
    nn.init.normal_(backbone.cls_token, std=1.0)
    for m in backbone.modules():
        # mmcv's ConvModule re-initialises its convolution (Kaiming, fan_out)
        # when built: undone here
        if isinstance(m, (nn.Linear, nn.Conv2d, _BatchNorm, nn.LayerNorm)):
            m.reset_parameters()


WEIGHT_INITS: Dict[str, Callable[[nn.Module], None]] = dict(timm=timm_init, torch=torch_init)
