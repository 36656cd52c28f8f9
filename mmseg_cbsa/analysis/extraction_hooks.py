"""Listening to the layers that extract representatives (CBSA and its
subclasses) during ordinary forward passes; the base of the per-call
records the analyses keep (:class:`LayerRecord`).

:class:`ExtractionListener` is the shared plumbing of the measurements that
read what such a layer computed in one call (its
:class:`~mmseg_cbsa.models.attentions.cbsa.ExtractionMaps`: the extraction
matrix ``A``, the tokens and representatives in each subspace): the rank
study of Appendix A (:mod:`mmseg_cbsa.analysis.rep_rank`) and the
per-subspace coding rates of Fig. 6
(:class:`~mmseg_cbsa.analysis.coding_rate.SubspaceReductionRecorder`).
"""
from dataclasses import dataclass
from typing import List, Tuple

from torch import nn

from ..models.attentions import CBSA
from ..models.attentions.cbsa import ExtractionMaps


@dataclass
class LayerRecord:
    """What the per-call records of the analyses share.

    Attributes:
        name: the module's name in the model, e.g. ``'backbone.blocks.3.attn'``.
        type: its class name.
    """

    name: str
    type: str

    @property
    def part(self) -> str:
        """The top-level part of the model: 'backbone', 'decode_head', ..."""
        return self.name.split('.', 1)[0] if self.name else 'model'


class ExtractionListener:
    """Context manager: an attention hook on every CBSA-family layer of ``model``.

    Subclasses implement :meth:`record`, called after each call of each
    layer with its module name, the layer and its maps. The hooks are
    removed on exit, also on error; outputs of the model are unchanged.

    Raises:
        ValueError: on entry, the model holds no layer that extracts
            representatives.
    """

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self._handles = []

    def layers(self) -> List[Tuple[str, CBSA]]:
        """(name, layer) of every layer that extracts representatives."""
        return [(n, m) for n, m in self.model.named_modules() if isinstance(m, CBSA)]

    def __enter__(self):
        layers = self.layers()
        if not layers:
            raise ValueError(f'{type(self.model).__name__} holds no layer that extracts '
                             'representatives (CBSA or a subclass such as AgentAttention)')
        for name, layer in layers:
            self._handles.append(layer.register_attention_hook(
                lambda module, maps, name=name: self.record(name, module, maps)))
        return self

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def record(self, name: str, layer: CBSA, maps: ExtractionMaps) -> None:
        raise NotImplementedError
