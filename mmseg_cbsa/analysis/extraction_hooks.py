"""Listening to the layers that extract representatives (CBSA, its
subclasses, QKVCBSA) during ordinary forward passes; the base of the
per-call records the analyses keep (:class:`LayerRecord`).

A layer says itself that it extracts representatives: it states the grid
of its representatives (``rep_grid_for``), and its attention maps carry the
extraction matrix (``maps.extraction``). What else its maps carry differs
by layer, so a measurement names the fields it reads
(:attr:`ExtractionListener.needs`) and layers whose maps lack them are
listed, not measured.

:class:`ExtractionListener` is the shared plumbing of the measurements that
read what such a layer computed in one call (its
:class:`~mmseg_cbsa.models.attentions.cbsa.ExtractionMaps`: the extraction
matrix ``A``, the tokens and representatives in each subspace): the rank
study of Appendix A (:mod:`mmseg_cbsa.analysis.rep_rank`) and the
per-subspace coding rates of Fig. 6
(:class:`~mmseg_cbsa.analysis.coding_rate.SubspaceReductionRecorder`).
"""
from dataclasses import dataclass
from typing import Dict, List, Tuple

from torch import nn

from ..models.attentions import AttentionMaps, BaseAttention
from .applicability import NotApplicable


def extracts_representatives(module: nn.Module) -> bool:
    """Whether ``module`` is an attention layer that declares representatives
    (it states their grid, ``rep_grid_for``), e.g. CBSA, AgentAttention,
    QKVCBSA."""
    return isinstance(module, BaseAttention) and callable(getattr(module, 'rep_grid_for', None))


def missing_fields(maps: AttentionMaps, needs: Tuple[str, ...]) -> List[str]:
    """The fields of ``needs`` that ``maps`` does not carry (absent or None)."""
    return [f for f in needs if getattr(maps, f, None) is None]


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
    """Context manager: an attention hook on every layer of ``model`` that
    extracts representatives (:func:`extracts_representatives`).

    Subclasses implement :meth:`record`, called after each call of each
    layer with its module name, the layer and its maps, when the maps carry
    every field of :attr:`needs`; a layer whose maps lack some is listed in
    :attr:`unmeasured` instead. The hooks are removed on exit, also on
    error; outputs of the model are unchanged.

    Attributes:
        needs: the attributes of the maps :meth:`record` reads.
        unmeasured: module name -> why it was not measured (its class name
            and the fields its maps lack), in the order the layers ran.

    Raises:
        NotApplicable: (a ValueError) on entry, the model holds no layer
            that extracts representatives (e.g. a ViT or CRATE encoder).
    """

    needs: Tuple[str, ...] = ('extraction', )

    def __init__(self, model: nn.Module) -> None:
        self.model = model
        self.unmeasured: Dict[str, str] = {}
        self._handles = []

    def layers(self) -> List[Tuple[str, BaseAttention]]:
        """(name, layer) of every layer that extracts representatives."""
        return [(n, m) for n, m in self.model.named_modules() if extracts_representatives(m)]

    def __enter__(self):
        layers = self.layers()
        if not layers:
            backbone = getattr(self.model, 'backbone', None)
            encoder = f' ({type(backbone).__name__} encoder)' if backbone is not None else ''
            raise NotApplicable(
                f'{type(self.model).__name__}{encoder} holds no layer that extracts '
                'representatives (CBSA, AgentAttention, QKVCBSA: an attention '
                'layer stating rep_grid_for): the measurement does not apply')
        for name, layer in layers:
            self._handles.append(
                layer.register_attention_hook(
                    lambda module, maps, name=name: self._dispatch(name, module, maps)))
        return self

    def _dispatch(self, name: str, layer: BaseAttention, maps: AttentionMaps) -> None:
        missing = missing_fields(maps, self.needs)
        if missing:
            self.unmeasured[name] = (f'{type(layer).__name__}: its attention maps carry no ' +
                                     ', '.join(missing))
        else:
            self.record(name, layer, maps)

    def __exit__(self, *exc) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def record(self, name: str, layer: BaseAttention, maps: AttentionMaps) -> None:
        raise NotImplementedError
