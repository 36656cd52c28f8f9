"""Stock mmseg / mmpretrain / mmengine workflows, one per case, run in a fresh
interpreter with or without the plugin loaded; prints the outcome as JSON.

    python tests/test_compat/stock_workflows.py CASE TMPDIR [--plugin]

``--plugin`` imports ``mmseg_cbsa`` first (what ``custom_imports`` does).
The outcome is what a user sees: whether the workflow ran or which
exception stopped it, the loaded weights (a digest: both runs are on this
machine, with the same kernels), and whether mmengine logged the misfit.
Checkpoints are made by the case itself from the stock architectures; no
network.
"""
import hashlib
import io
import json
import logging
import os
import os.path as osp
import sys
import warnings
from typing import Callable, Dict

import torch


def _digest(module: torch.nn.Module) -> str:
    h = hashlib.sha256()
    for key, value in sorted(module.state_dict().items()):
        h.update(key.encode())
        h.update(value.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def _mmseg_cfg(name: str):
    """One of mmseg's own configs, as installed with mmseg."""
    from mmengine.config import Config
    from mmengine.utils import get_installed_path
    return Config.fromfile(osp.join(get_installed_path('mmsegmentation'), '.mim', 'configs', name))


def _build_seg(model_cfg):
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    torch.manual_seed(0)
    return MODELS.build(model_cfg)


def _resnet18_torchvision(tmp: str) -> str:
    """A torchvision-layout ResNet-18 ImageNet checkpoint (with fc.*)."""
    import torchvision
    torch.manual_seed(1)
    path = osp.join(tmp, 'resnet18_torchvision.pth')
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return path


def case_resnet_pretrained_with_fc(tmp: str) -> Dict:
    """pspnet_r18b: the backbone from an ImageNet checkpoint carrying fc.*."""
    cfg = _mmseg_cfg('pspnet/pspnet_r18b-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg.model.pretrained = _resnet18_torchvision(tmp)
    model = _build_seg(cfg.model)
    model.init_weights()
    return dict(weights=_digest(model.backbone))


def case_fcn_pretrained_with_fc(tmp: str) -> Dict:
    """fcn_r18 (ResNetV1c): a torchvision-layout file; stem keys differ, so
    mmengine loads what fits and logs the rest."""
    cfg = _mmseg_cfg('fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg.model.pretrained = _resnet18_torchvision(tmp)
    model = _build_seg(cfg.model)
    model.init_weights()
    return dict(weights=_digest(model.backbone))


def case_convnext_pretrained_prefix(tmp: str) -> Dict:
    """ConvNeXt (UperNet config): Pretrained(prefix='backbone.') from a
    classifier's checkpoint (backbone.* and head.*)."""
    from mmpretrain.registry import MODELS as CLS_MODELS
    cfg = _mmseg_cfg('convnext/convnext-tiny_upernet_8xb2-amp-160k_ade20k-512x512.py')
    backbone = cfg.model.backbone
    backbone.arch = 'atto'  # small, same code path
    torch.manual_seed(2)
    classifier = CLS_MODELS.build(
        dict(
            type='ImageClassifier',
            backbone=dict(type='ConvNeXt', arch='atto'),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=1000, in_channels=320)))
    path = osp.join(tmp, 'convnext_atto_cls.pth')
    torch.save({'state_dict': classifier.state_dict(), 'meta': {}}, path)
    backbone.init_cfg = dict(type='Pretrained', checkpoint=path, prefix='backbone.')
    model = _build_seg(backbone)
    model.init_weights()
    return dict(weights=_digest(model))


def _pspnet(num_classes: int, aux: bool = True):
    cfg = _mmseg_cfg('pspnet/pspnet_r18b-d8_4xb2-80k_cityscapes-512x1024.py')
    cfg.model.decode_head.num_classes = num_classes
    if aux:
        cfg.model.auxiliary_head.num_classes = num_classes
    else:
        cfg.model.auxiliary_head = None
    cfg.model.pretrained = None
    return cfg


def case_load_from_other_class_count(tmp: str) -> Dict:
    """Runner load_from: a 19-class Cityscapes checkpoint into a 150-class
    model without an auxiliary head's tensors (ordinary fine-tuning)."""
    from mmengine.runner import Runner
    src = _build_seg(_pspnet(19, aux=False).model)
    path = osp.join(tmp, 'pspnet_19cls.pth')
    torch.save({'state_dict': src.state_dict(), 'meta': {}}, path)
    cfg = _pspnet(150)
    cfg.work_dir = osp.join(tmp, 'work')
    cfg.randomness = dict(seed=0)  # the fresh head's initialisation
    if '--plugin' in sys.argv:
        cfg.custom_imports = dict(imports=['mmseg_cbsa'], allow_failed_imports=False)
    cfg.load_from = path
    runner = Runner.from_cfg(cfg)
    runner.logger.addHandler(MISFIT)  # the runner logs through its own logger
    runner.load_checkpoint(path)
    return dict(weights=_digest(runner.model))


def case_load_checkpoint_not_strict(tmp: str) -> Dict:
    """mmengine.runner.load_checkpoint(strict=False) with extra and missing keys."""
    from mmengine.runner import load_checkpoint
    model = _build_seg(_pspnet(19).model)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith('auxiliary_head.')}
    state['extra.weight'] = torch.zeros(2)
    path = osp.join(tmp, 'partial.pth')
    torch.save({'state_dict': state}, path)
    torch.manual_seed(5)
    target = _build_seg(_pspnet(19).model)
    load_checkpoint(target, path, strict=False)
    return dict(weights=_digest(target))


def case_load_checkpoint_strict(tmp: str) -> Dict:
    """mmengine.runner.load_checkpoint(strict=True) with a missing key: the
    caller catches RuntimeError, as torch's and mmengine's strict loads raise."""
    from mmengine.runner import load_checkpoint
    model = _build_seg(_pspnet(19).model)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith('auxiliary_head.')}
    path = osp.join(tmp, 'partial.pth')
    torch.save({'state_dict': state}, path)
    try:
        load_checkpoint(_build_seg(_pspnet(19).model), path, strict=True)
    except RuntimeError as e:
        return dict(caught='RuntimeError', first_line=str(e).splitlines()[0][:60])
    return dict(caught=None)


def case_mmpretrain_get_model(tmp: str) -> Dict:
    """mmpretrain's get_model with a local pretrained file and a new head."""
    from mmpretrain import get_model
    torch.manual_seed(7)
    src = get_model('resnet18_8xb32_in1k')
    path = osp.join(tmp, 'resnet18_in1k.pth')
    torch.save({'state_dict': src.state_dict(), 'meta': {}}, path)
    torch.manual_seed(3)
    model = get_model('resnet18_8xb32_in1k', pretrained=path, head=dict(num_classes=10))
    return dict(weights=_digest(model.backbone), head=tuple(model.head.fc.weight.shape))


def case_legacy_checkpoint_forced_full_load(tmp: str) -> Dict:
    """A legacy checkpoint with numpy objects in its metadata, loaded with
    TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1 (torch's documented escape hatch)."""
    import numpy as np
    from mmengine.runner import load_checkpoint
    os.environ['TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD'] = '1'
    model = _build_seg(_pspnet(19).model)
    path = osp.join(tmp, 'legacy.pth')
    torch.save(
        {
            'state_dict': model.state_dict(),
            'meta': {
                'seed': np.int64(3),
                'hist': np.arange(3)
            }
        }, path)
    torch.manual_seed(4)
    target = _build_seg(_pspnet(19).model)
    ckpt = load_checkpoint(target, path)
    return dict(weights=_digest(target), meta_seed=int(ckpt['meta']['seed']))


def case_mmseg_vit_swin_init(tmp: str) -> Dict:
    """mmseg's own ViT and Swin init_weights from files with extra keys."""
    out = {}
    for name, cfg_name in [('vit', 'vit/vit_vit-b16_mln_upernet_8xb2-80k_ade20k-512x512.py'),
                           ('swin', 'swin/swin-tiny-patch4-window7-in1k-pre_upernet_'
                            '8xb2-160k_ade20k-512x512.py')]:
        cfg = _mmseg_cfg(cfg_name).model.backbone
        cfg.pop('pretrained', None)
        cfg.init_cfg = None
        torch.manual_seed(6)
        src = _build_seg(cfg)
        state = dict(src.state_dict(), **{'head.weight': torch.zeros(2)})
        path = osp.join(tmp, f'{name}.pth')
        torch.save({'state_dict': state}, path)
        cfg.init_cfg = dict(type='Pretrained', checkpoint=path)
        target = _build_seg(cfg)
        target.init_weights()
        out[name] = _digest(target)
    return out


def case_other_plugin_registers_generic_names(tmp: str) -> Dict:
    """Another plugin registers Mlp and ViT in mmseg's MODELS (and mmpretrain's)."""
    from mmpretrain.registry import MODELS as CLS_MODELS
    from mmseg.registry import MODELS

    class Mlp(torch.nn.Module):
        pass

    class ViT(torch.nn.Module):
        pass

    for registry in (MODELS, CLS_MODELS):
        registry.register_module(module=Mlp)
        registry.register_module(module=ViT)
    return dict(mlp=MODELS.get('Mlp') is Mlp, vit=CLS_MODELS.get('ViT') is ViT)


def _tiny_ade20k(root: str) -> None:
    """A few random images and label maps in ADE20K's layout (jpg / png)."""
    import cv2
    import numpy as np
    rng = np.random.default_rng(0)
    for split, count in (('training', 4), ('validation', 2)):
        os.makedirs(osp.join(root, 'images', split), exist_ok=True)
        os.makedirs(osp.join(root, 'annotations', split), exist_ok=True)
        for i in range(count):
            image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            label = rng.integers(0, 4, (64, 64), dtype=np.uint8)
            cv2.imwrite(osp.join(root, 'images', split, f'{i}.jpg'), image)
            cv2.imwrite(osp.join(root, 'annotations', split, f'{i}.png'), label)


def case_mmseg_train_py(tmp: str) -> Dict:
    """mmseg's own tools/train.py on a stock PSPNet-R18 config (2 iterations on a
    tiny ADE20K-layout folder), its backbone from an ImageNet file with fc.*;
    with the plugin, the config also names it in custom_imports."""
    import runpy

    import mmseg
    root = osp.join(tmp, 'ade')
    _tiny_ade20k(root)
    base = osp.join(
        osp.dirname(mmseg.__file__), '.mim', 'configs', 'pspnet',
        'pspnet_r18b-d8_4xb2-80k_cityscapes-512x1024.py')
    imports = "custom_imports = dict(imports=['mmseg_cbsa'])\n" if '--plugin' in sys.argv else ''
    pipeline = ("[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', "
                "reduce_zero_label=True), dict(type='PackSegInputs')]")
    config = osp.join(tmp, 'stock_pspnet.py')
    with open(config, 'w') as f:
        f.write(f"""_base_ = [{base!r}]
{imports}model = dict(pretrained={_resnet18_torchvision(tmp)!r},
             data_preprocessor=dict(size=(64, 64)),
             decode_head=dict(num_classes=150), auxiliary_head=dict(num_classes=150))
data = dict(type='ADE20KDataset', data_root={root!r}, reduce_zero_label=True, pipeline={pipeline})
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data, data_prefix=dict(img_path='images/training',
                                     seg_map_path='annotations/training'), _delete_=True))
val_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,
                      dataset=dict(data, data_prefix=dict(img_path='images/validation',
                                   seg_map_path='annotations/validation'), _delete_=True))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
randomness = dict(seed=0, deterministic=True)
norm_cfg = dict(type='BN', requires_grad=True)
""")
    train_py = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'train.py')
    work = osp.join(tmp, 'work')
    sys.argv = [
        train_py, config, '--work-dir', work, '--cfg-options', 'model.backbone.norm_cfg.type=BN',
        'model.decode_head.norm_cfg.type=BN', 'model.auxiliary_head.norm_cfg.type=BN'
    ]
    runpy.run_path(train_py, run_name='__main__')
    # the file this case's own run just wrote (mmengine's pickle, numpy inside)
    state = torch.load(
        osp.join(work, 'iter_2.pth'), map_location='cpu', weights_only=False)['state_dict']
    model = torch.nn.Module()
    for i, (k, v) in enumerate(sorted(state.items())):
        model.register_buffer(f't{i}', v)
    return dict(weights=_digest(model))


CASES: Dict[str, Callable[[str], Dict]] = {
    name[len('case_'):]: fn
    for name, fn in sorted(globals().items()) if name.startswith('case_')
}

MISFIT_MARKERS = ('missing keys', 'unexpected key', 'size mismatch')


class _MisfitLog(logging.Handler):
    """Notes whether mmengine logged missing / unexpected / mis-shaped keys
    (it prints them instead when called without a logger: see main)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.seen = False

    def emit(self, record: logging.LogRecord) -> None:
        if any(s in record.getMessage() for s in MISFIT_MARKERS):
            self.seen = True


MISFIT = _MisfitLog()


def main() -> None:
    case, tmp = sys.argv[1], sys.argv[2]
    os.makedirs(tmp, exist_ok=True)
    if '--plugin' in sys.argv:
        import mmseg_cbsa  # noqa: F401
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine', log_level='INFO').addHandler(MISFIT)
    warnings.simplefilter('ignore')
    sys.stdout = printed = io.StringIO()  # the JSON line is the only output
    try:
        outcome = dict(status='ok', **CASES[case](tmp))
    except Exception as e:  # the outcome a user sees
        outcome = dict(status=type(e).__name__, message=str(e).splitlines()[0][:200])
    outcome['logged_misfit'] = MISFIT.seen or any(m in printed.getvalue() for m in MISFIT_MARKERS)
    sys.stdout = sys.__stdout__
    print(json.dumps(outcome, sort_keys=True))


if __name__ == '__main__':
    main()
