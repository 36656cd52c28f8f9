"""mmseg's ``init_model`` and ``MMSegInferencer``, with the project's
checkpoint loading (weights-only, refused by file and key unless it fits,
judged before anything is copied).

mmseg's own functions read with mmengine's bare ``torch.load`` and load
non-strictly; the project leaves them as they are and offers these for its
tools, demos and users who want the guarantees. Everything else (building,
``dataset_meta`` from the checkpoint, the inferencer's pipeline and
visualisation) is mmseg's, except the class names of a checkpoint that has
none: the config's dataset's, not Cityscapes'.
"""
import warnings
from typing import Any, Optional, Union

from mmengine.config import Config
from mmseg.apis import MMSegInferencer
from mmseg.apis import init_model as mmseg_init_model
from torch import nn

from ..datasets.metainfo import dataset_meta
from ..registry import MODELS, SCOPE
from ..utils.checkpoint_fit import load_checkpoint_to_model
from ..utils.checkpoint_sources import read_checkpoint
from ..utils.precision import autocast, outputs_to_float32, resolve_precision


def init_model(config: Union[str, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cuda:0',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """mmseg's ``init_model`` with the checkpoint read weights-only and fit-checked.

    The model is built by mmseg's ``init_model`` (no checkpoint), then
    ``checkpoint`` is loaded by the project's rule and mmseg's
    ``MMSegInferencer._load_weights_to_model`` sets ``dataset_meta`` from
    it, as mmseg's ``init_model`` would.

    Raises:
        CheckpointMismatchError: the checkpoint does not fit; the model is
            not returned (and was not changed).
    """
    model = mmseg_init_model(config, None, device='cpu', cfg_options=cfg_options)
    if checkpoint is not None:
        ckpt = read_checkpoint(checkpoint, 'cpu')
        load_checkpoint_to_model(model, ckpt, str(checkpoint))
        _set_dataset_meta(model, ckpt, model.cfg)
    return model.to(device).eval()


#: what mmseg's inferencer warns when it falls back to Cityscapes' names
_CITYSCAPES_FALLBACK = (r'(dataset_meta or class names are not saved'
                        r'|weights is None, use cityscapes)')


def _set_dataset_meta(model: nn.Module, checkpoint: Any, cfg: Optional[Config] = None) -> None:
    """``model.dataset_meta`` (classes and palette) as mmseg's inferencer sets
    it from the checkpoint's meta, except where the checkpoint names no
    classes (a converted or bare checkpoint, random weights): then those of
    the config's test dataset, where mmseg would take Cityscapes' 19 names
    whatever the model's class count."""
    meta = checkpoint.get('meta') or {} if isinstance(checkpoint, dict) else {}
    named = 'dataset_meta' in meta or 'CLASSES' in meta
    with warnings.catch_warnings():
        if not named and cfg is not None:
            warnings.filterwarnings('ignore', message=_CITYSCAPES_FALLBACK)
        # mmseg's own reading of the meta; the tensors are already loaded
        # and fit, so loading them again there changes nothing
        MMSegInferencer._load_weights_to_model(None, model, checkpoint, None)
    if named or cfg is None:
        return
    try:
        model.dataset_meta = dataset_meta(cfg)
    except KeyError as e:
        warnings.warn(f'the checkpoint names no classes and {e.args[0]}: Cityscapes\' '
                      'class names and colours are used')


class SegInferencer(MMSegInferencer):
    """``MMSegInferencer`` in the ``mmseg_cbsa`` scope (the model index of
    this project, its types by their bare names) whose weights are read
    weights-only and must fit the model.

    Args:
        model, weights, classes, palette, dataset_name, device: as for
            ``MMSegInferencer``.
        scope: default ``'mmseg_cbsa'``.
        precision: ``'float32'`` (default), ``'bf16'``, ``'fp16'`` or
            ``'auto'``, resolved once on the model's device
            (:func:`~mmseg_cbsa.utils.precision.resolve_precision`: a
            precision the hardware does not run natively logs what it
            costs) and kept in ``self.precision``; the forward passes run
            under :func:`~mmseg_cbsa.utils.precision.autocast` to it and the
            predictions come back float32.
    """

    def __init__(self,
                 *args: Any,
                 scope: Optional[str] = SCOPE,
                 precision: str = 'float32',
                 **kwargs: Any) -> None:
        super().__init__(*args, scope=scope, **kwargs)
        self.precision = resolve_precision(precision, self.model)

    def forward(self, inputs: Any, *args: Any, **kwargs: Any) -> list:
        with autocast(self.model, self.precision):
            predictions = super().forward(inputs, *args, **kwargs)
        outputs_to_float32(predictions)
        return predictions

    def _init_visualizer(self, cfg: Config):
        # A config's vis_backends (LocalVisBackend and the like) write a
        # training run's scalars and images under its work dir; an
        # inferencer has none, and mmengine would warn once per backend
        # ("Failed to add ..., please provide the save_dir argument").
        # The inferencer draws its pictures itself and needs no backend.
        if 'visualizer' in cfg:
            cfg.visualizer.vis_backends = None
        return super()._init_visualizer(cfg)

    def _init_model(self, cfg: Config, weights: Optional[str], device: str = 'cpu') -> nn.Module:
        model = MODELS.build(cfg.model)
        model.cfg = cfg
        checkpoint = None
        if weights is not None:
            checkpoint = read_checkpoint(weights, 'cpu')
            load_checkpoint_to_model(model, checkpoint, str(weights))
        _set_dataset_meta(model, checkpoint, cfg)
        return model.to(device).eval()


__all__ = ['SegInferencer', 'init_model']
