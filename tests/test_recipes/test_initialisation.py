"""The authors' initialisation for training from scratch on ImageNet
(CBSA_image_classification/models.py): every Linear, convolution and
normalisation layer at PyTorch's own initialisation (no re-initialisation
anywhere), position embedding and [CLS] token from ``torch.randn``."""
import math

import torch

from tests.test_recipes.test_one_step import _build, _tiny_classifier


def test_imagenet_classifier_starts_as_the_authors():
    torch.manual_seed(0)
    net = _build(_tiny_classifier('classification/cbt-s_8xb32-lion-150e_in1k.py'))
    backbone = net.backbone
    for t in (backbone.pos_embed, backbone.cls_token):
        assert 0.6 < float(t.std()) < 1.4  # N(0, 1), not trunc-normal 0.02 / 1e-6
    linears = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    convs = [m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert linears and convs
    for m in linears + convs:
        # PyTorch's kaiming_uniform(a=sqrt(5)): U(-b, b), b = 1 / sqrt(fan_in), std b / sqrt(3)
        fan_in = m.weight[0].numel()
        bound = 1 / math.sqrt(fan_in)
        assert float(m.weight.abs().max()) <= bound + 1e-6
        assert float(m.weight.std()) > 0.5 * bound / math.sqrt(3)
        if m.bias is not None:
            assert float(m.bias.abs().max()) <= bound + 1e-6 and torch.count_nonzero(m.bias)
    for m in backbone.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight))
            assert torch.equal(m.bias, torch.zeros_like(m.bias))


def test_timm_rule_remains_the_default_of_the_backbones():
    from mmseg_cbsa.models import CBT
    torch.manual_seed(0)
    net = CBT(arch=(16, 1, 2), img_size=32, patch_size=8, attn_cfg=dict(type='CBSA', rep_grid=2))
    net.init_weights()
    assert float(net.pos_embed.std()) < 0.03 and float(net.cls_token.abs().max()) < 1e-4
    proj = net.blocks[0].attn.proj
    assert float(proj.weight.std()) < 0.03
