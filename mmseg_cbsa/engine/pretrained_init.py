"""``Pretrained`` of the ``mmseg_cbsa`` scope: mmengine's initialiser with the
project's loading (weights-only, fit-checked, errors naming the file).

Registered under the name ``'Pretrained'`` in the project's own
``WEIGHT_INITIALIZERS`` (:mod:`mmseg_cbsa.registry`), never in mmengine's:
an ``init_cfg=dict(type='Pretrained', ...)`` resolves to it where the
``mmseg_cbsa`` scope is in force (``default_scope = 'mmseg_cbsa'`` in the
project's configs) or is named (``_scope_='mmseg_cbsa'`` in the init_cfg,
as in the mmpretrain-scoped configs); everywhere else mmengine's own
``Pretrained`` runs unchanged. The name stays ``'Pretrained'`` because
``BaseModule.init_weights`` applies an init_cfg of that name after the
children's own initialisation.
"""
from typing import Any, Optional, Sequence

import torch
from mmengine.logging import print_log
from mmengine.model.weight_init import PretrainedInit, update_init_info

from ..registry import WEIGHT_INITIALIZERS
from ..utils.checkpoint import CheckpointError, extract_state_dict
from ..utils.checkpoint_fit import Allowance, load_state_dict_checked, partial_loading
from ..utils.checkpoint_sources import read_checkpoint


@WEIGHT_INITIALIZERS.register_module(name='Pretrained')
class Pretrained(PretrainedInit):
    """mmengine's ``Pretrained`` init_cfg, checked, with an explicit opt-out.

    Args:
        checkpoint, prefix, map_location: as in mmengine's ``PretrainedInit``
            (with ``prefix``, the file's ``<prefix>*`` tensors go into the
            module, e.g. ``prefix='backbone.'`` for a whole model's
            checkpoint loaded into a backbone).
        allow_missing: weights of the module the file may leave unset (key
            prefixes relative to the module, or True for any); default none.
        allow_unexpected: tensors of the file (after ``prefix``) the module
            may ignore; default none.
        keep_init: module key prefixes that keep their own initialisation
            (the file's tensors there are dropped, whatever their shape).
            Shapes must match everywhere else.
    """

    def __init__(
        self,
        checkpoint: str,
        prefix: Optional[str] = None,
        map_location: Any = 'cpu',
        allow_missing: Allowance = (),
        allow_unexpected: Allowance = (),
        keep_init: Sequence[str] = ()
    ) -> None:
        super().__init__(checkpoint, prefix=prefix, map_location=map_location)
        self.allow_missing = allow_missing
        self.allow_unexpected = allow_unexpected
        self.keep_init = keep_init

    def __call__(self, module: torch.nn.Module) -> None:
        what = f'{self.prefix} in model' if self.prefix else 'model'
        print_log(f'load {what} from: {self.checkpoint}', logger='current')
        state = extract_state_dict(
            read_checkpoint(self.checkpoint, self.map_location), self.checkpoint)
        if self.prefix is not None:
            prefix = self.prefix if self.prefix.endswith('.') else self.prefix + '.'
            sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
            if not sub:
                heads = sorted({k.split('.', 1)[0] + '.' for k in state})
                raise CheckpointError(f'{self.checkpoint}: no tensors under prefix {prefix!r}; '
                                      f'its keys start with {heads[:8]}')
            state = sub
        with partial_loading(self.allow_missing, self.allow_unexpected, self.keep_init):
            load_state_dict_checked(module, state, source=self.checkpoint)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())


__all__ = ['Pretrained']
