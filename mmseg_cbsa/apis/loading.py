"""Building models from configs and loading their weights: what the analysis,
deployment and application code share.

* :func:`build_model`: a config's model without the weights the config
  points at (``Pretrained`` init_cfgs, ``pretrained`` paths), optionally
  with a checkpoint loaded or the ``init_weights`` pass run;
* :func:`load_weights`: a checkpoint (whole model or bare encoder) into a
  built model, weights-only, every weight of the model required;
* :func:`pretrained_backbone`: the same checkpoint as an ``init_cfg`` for
  runs that build their model through mmengine's Runner;
* :func:`image_pipeline`: a config's test pipeline for image files.

Whether a checkpoint holds a whole model (``backbone.*`` keys) or a bare
encoder is decided in one place, :func:`is_bare_backbone_state`.
"""
import logging
from typing import Any, Callable, List, Mapping, NamedTuple, Optional, Union

import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from torch import nn

from ..registry import MODELS, SCOPE
from ..utils import extract_state_dict, load_checkpoint_file
from ..utils.checkpoint_fit import load_state_dict_checked, partial_loading

#: the attribute, and state-dict prefix, of the encoder in mmseg segmentors,
#: CLSAttentionProbe and mmpretrain classifiers
BACKBONE_PREFIX = 'backbone.'
#: the state-dict prefix of an mmpretrain classifier's head
CLASSIFIER_HEAD_PREFIX = 'head.'


class LoadedModel(NamedTuple):
    """What :func:`build_model` returns (unpacks as a 3-tuple).

    Attributes:
        model: the built model, in eval mode, on the requested device.
        source: one line saying where the weights come from.
        ignored_keys: checkpoint tensors the model has no place for (e.g. a
            classifier's ``head.fc.*`` when only its encoder is used).
    """

    model: nn.Module
    source: str
    ignored_keys: List[str]


def drop_pretrained(node: Any) -> Any:
    """Remove ``Pretrained`` init_cfgs and ``pretrained`` paths from a model
    config, in place (nested dicts and lists too), and return it.

    The weights then come from the caller's checkpoint, or nowhere, never
    from files the config names (which are often not on this machine)."""
    if isinstance(node, dict):
        init = node.get('init_cfg')
        inits = init if isinstance(init, list) else [init]
        if any(isinstance(i, dict) and i.get('type') == 'Pretrained' for i in inits):
            kept = [i for i in inits if not (isinstance(i, dict) and i.get('type') == 'Pretrained')]
            node['init_cfg'] = kept or None
        if 'pretrained' in node:
            node['pretrained'] = None
        for value in node.values():
            drop_pretrained(value)
    elif isinstance(node, list):
        for value in node:
            drop_pretrained(value)
    return node


def is_bare_backbone_state(state: Mapping[str, Any]) -> bool:
    """Whether a state dict holds an encoder alone (keys relative to
    ``model.backbone``, e.g. a converted classifier's backbone) rather than
    a whole model, whose encoder keys start with ``backbone.``.

    The one place where the plugin guesses this: tools loading into a built
    model (:func:`load_weights`) and tools loading through an init_cfg
    (:func:`pretrained_backbone`) must agree on the same file."""
    return not any(k.startswith(BACKBONE_PREFIX) for k in state)


def pretrained_backbone(checkpoint: str) -> dict:
    """An init_cfg that loads ``checkpoint`` into ``model.backbone``.

    The file is read (weights-only) to decide the prefix: ``backbone.`` for
    a whole model's checkpoint, none for a bare encoder state dict.

    Returns:
        ``dict(type='Pretrained', _scope_='mmseg_cbsa', checkpoint=checkpoint,
        prefix=...)``.
    """
    state = extract_state_dict(load_checkpoint_file(checkpoint), checkpoint)
    prefix = None if is_bare_backbone_state(state) else BACKBONE_PREFIX
    # the scope's Pretrained: weights-only and fit-checked in any config
    return dict(type='Pretrained', _scope_=SCOPE, checkpoint=checkpoint, prefix=prefix)


def load_weights(model: nn.Module, path: str) -> List[str]:
    """Load a checkpoint (weights-only; the file is only read) into ``model``.

    The project's one fit rule (:func:`~mmseg_cbsa.utils.checkpoint_fit.load_state_dict_checked`):
    every weight of the model set, every tensor used, every shape right,
    judged before anything is copied. A bare encoder state dict is loaded
    into ``model.backbone``. One allowance, declared here: a classifier's
    head (``head.*``) is ignored by a model that has no head (e.g. the
    [CLS] probe or a segmentor given a classifier's checkpoint).

    Returns:
        the checkpoint keys ignored by that allowance.

    Raises:
        CheckpointMismatchError: the checkpoint does not fit, naming the file
            and the keys.
    """
    state = extract_state_dict(load_checkpoint_file(path), path)
    if hasattr(model, 'backbone') and is_bare_backbone_state(state):
        state = {BACKBONE_PREFIX + k: v for k, v in state.items()}
    allowance = () if hasattr(model, 'head') else (CLASSIFIER_HEAD_PREFIX, )
    with partial_loading(allow_unexpected=allowance):
        left_out = load_state_dict_checked(model, state, source=path)
    return list(left_out.unexpected)


def build_model(cfg: Union[str, Config],
                checkpoint: Optional[str] = None,
                device: str = 'cpu',
                seed: Optional[int] = 0,
                init_weights: bool = True) -> LoadedModel:
    """Build ``cfg.model`` without pretrained weights, then load ``checkpoint``.

    Args:
        cfg: a config or its path.
        checkpoint: an mmengine checkpoint or a bare state dict (see
            :func:`load_weights`); None keeps a random initialisation.
        device: where the model goes.
        seed: seeds torch before building, since some parameters are drawn
            when modules are built (conv stems, CBSA step sizes), not by the
            init pass; None leaves the generator alone.
        init_weights: without a checkpoint, run the model's ``init_weights``
            pass (quietly: it logs every parameter); False keeps the
            constructors' parameters, enough to count FLOPs or time a model.

    Returns:
        :class:`LoadedModel`: the model in eval mode, where its weights come
        from, the ignored checkpoint keys.
    """
    from mmengine.registry import init_default_scope

    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    # not mmseg's init_model: it adds keys (pretrained, train_cfg) that models
    # other than segmentors (CLSAttentionProbe) refuse
    init_default_scope(cfg.get('default_scope', SCOPE))
    if cfg.get('data_preprocessor') is not None:
        # mmpretrain configs give the preprocessor (normalisation, channel
        # order) beside the model, and mmengine's Runner hands it in; a model
        # built without it would see unnormalised BGR pixels
        cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    if seed is not None:
        torch.manual_seed(seed)
    # in the config's own scope (ours, or mmpretrain's for the classifiers)
    model = MODELS.build(drop_pretrained(cfg.model))
    ignored: List[str] = []
    if checkpoint is not None:
        ignored = load_weights(model, checkpoint)
        source = f'checkpoint {checkpoint}'
    elif init_weights:
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            model.init_weights()
        finally:
            logger.setLevel(level)
        source = f'random initialisation (init_weights, seed {seed}): no checkpoint'
    else:
        source = f'random initialisation (constructors, seed {seed}): no checkpoint'
    return LoadedModel(model.to(device).eval(), source, ignored)


def image_pipeline(cfg: Config, loads_image: bool = True) -> Callable[[dict], dict]:
    """The test dataloader's pipeline (else ``test_pipeline``) without its
    annotation-loading steps, for image files: ``pipeline(dict(img_path=p))``
    gives ``inputs`` (3, H, W) and ``data_samples``.

    Args:
        cfg: the config.
        loads_image: refuse a pipeline without an image-loading step; False
            accepts one (in-memory datasets such as mmpretrain's CIFAR hand
            the pipeline ``img`` arrays), for callers that give ``img``.

    Raises:
        KeyError: the config has no test pipeline.
        ValueError: the pipeline loads no image (and ``loads_image``).
    """
    from mmcv.transforms import Compose
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    steps = dataset.get('pipeline') or cfg.get('test_pipeline')
    if not steps:
        raise KeyError('the config has no test_dataloader.dataset.pipeline nor test_pipeline')
    steps = [dict(s) for s in steps if 'Annotation' not in s['type']]
    if loads_image and not any('LoadImage' in s['type'] for s in steps):
        raise ValueError(f'the test pipeline loads no image: {[s["type"] for s in steps]}')
    return Compose(steps)
