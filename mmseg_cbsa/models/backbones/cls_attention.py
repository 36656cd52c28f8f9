"""[CLS]-to-patch attention maps of an encoder of the family, read through the
attention layers' hooks
(:meth:`~mmseg_cbsa.models.attentions.BaseAttention.register_attention_hook`).

:class:`CLSAttentionRecorder` is the package's one way to capture them:
``TokenBackbone.forward_cls_attention``, ``CLSAttentionProbe`` (zero-shot
segmentation) and the analysis' ``AttentionRecorder`` (demos, web demo) all
record through it.
"""
from typing import Dict, List, Optional, Sequence

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from ..attentions import AttentionMaps


def has_cls_attention(backbone: Optional[nn.Module]) -> bool:
    """Whether ``backbone`` hands out [CLS] attention: it has a [CLS] token
    and blocks of the attention family (every ``TokenBackbone``)."""
    return hasattr(backbone, 'forward_cls_attention')


def no_cls_attention(backbone: Optional[nn.Module]) -> str:
    """Why ``backbone`` hands out no [CLS] attention, for messages."""
    return f'{type(backbone).__name__} has no [CLS] token (no forward_cls_attention)'


class CLSAttentionRecorder:
    """Record the [CLS] attention of chosen blocks during forwards of a backbone.

    Use as a context manager around any forward that runs the backbone (or
    call :meth:`install` and :meth:`remove`); the hooks are removed on exit,
    also on error; the outputs are unchanged::

        with CLSAttentionRecorder(backbone, layers=(0, -1)) as rec:
            backbone(img)
        rec.maps  # {block: (B, K, h, w)}, by block index

    Each map is the [CLS] row of a block's token-to-token attention,
    restricted to the patches (``TokenBackbone.cls_rows``): of the softmax
    attention (MHSA, MSSA), of ``A^T A`` (CBSA, agent), or of the layer's own
    token map (linear, TSSA, DMSA). The first call of each block is kept
    (the first window under sliding-window inference).

    Args:
        backbone: an encoder with a [CLS] token (:func:`has_cls_attention`).
        layers: block indices (negative from the end); all blocks if None.
        detach: store the maps detached from the autograd graph.
    """

    def __init__(self,
                 backbone: nn.Module,
                 layers: Optional[Sequence[int]] = None,
                 detach: bool = False) -> None:
        if not has_cls_attention(backbone):
            raise TypeError(no_cls_attention(backbone))
        self.backbone = backbone
        num = backbone.num_layers
        self.layers = list(range(num)) if layers is None else sorted({i % num for i in layers})
        self.detach = detach
        self._maps: Dict[int, Tensor] = {}
        self._handles: List[RemovableHandle] = []

    @property
    def maps(self) -> Dict[int, Tensor]:
        """{block: (B, K, h, w)} recorded so far, ordered by block."""
        return dict(sorted(self._maps.items()))

    def install(self) -> None:
        """Register the hooks on the chosen blocks' attention layers."""
        try:
            for index in self.layers:
                attn = self.backbone.blocks[index].attn
                self._handles.append(attn.register_attention_hook(self._hook(index)))
        except BaseException:
            self.remove()
            raise

    def __enter__(self) -> 'CLSAttentionRecorder':
        self.install()
        return self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        """Remove the hooks (what is recorded stays)."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _hook(self, index: int):

        def hook(layer: nn.Module, maps: AttentionMaps) -> None:
            if index not in self._maps:
                rows = self.backbone.cls_rows(maps.tokens, maps.hw_shape)
                self._maps[index] = rows.detach() if self.detach else rows

        return hook
