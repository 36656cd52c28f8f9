"""CBT decoder: stacked CBSA layers on patch tokens and class embeddings."""
from typing import Optional

from ...registry import MODELS
from ..layers import attention_cfg, refuse_attention_options
from .class_embedding_head import ClassEmbeddingHead


@MODELS.register_module()
class CBTHead(ClassEmbeddingHead):
    """Contract-and-Broadcast Transformer decode head (paper-spec section 4).

    L layers of ``x = x + CBSA(LN(x))`` over [patch tokens; class embeddings],
    no FFN. Representatives are pooled from the patch tokens only; the class
    embeddings still take part in extraction and broadcast. The defaults are
    the authors' code (K = 3 heads of width p = 100, 3 layers, 10x10
    representatives), so their checkpoints load.

    Args:
        in_channels: encoder token width d.
        num_layers: L.
        num_heads: K.
        head_dims: p.
        attn_cfg: the attention layer, the one place for its options:
            ``dict(type='CBSA', rep_grid=10)`` by default (10x10
            representatives). A CBSA config is laid over that default (the
            grid stays unless it sets one), e.g.
            ``dict(type='CBSA', rep_init='learned')`` (learned
            representatives, paper Appendix A) or ``dict(type='CBSA',
            rep_grid=8, detach_init=True)``, see
            :class:`~mmseg_cbsa.models.attentions.CBSA`; any other
            registered member of the family replaces it, e.g.
            ``dict(type='AgentAttention', rep_grid=10)`` or
            ``dict(type='MSSA')``. ``num_heads`` and ``head_dims`` default to
            the head's.
        **kwargs: :class:`ClassEmbeddingHead` options; ``rep_grid``,
            ``detach_init`` and ``rep_init`` are refused with a TypeError
            naming ``attn_cfg``, where they moved.

    Shapes:
        inputs[in_index] (B, d, h, w) -> logits (B, num_classes, h, w).
    """

    def __init__(self,
                 in_channels: int,
                 num_layers: int = 3,
                 num_heads: int = 3,
                 head_dims: int = 100,
                 attn_cfg: Optional[dict] = None,
                 **kwargs) -> None:
        refuse_attention_options(type(self).__name__, kwargs)
        # a CBSA config keeps the head's 10x10 grid unless it sets a grid
        attn_cfg = attention_cfg(
            attn_cfg,
            dict(type='CBSA', rep_grid=10),
            overlay=True,
            num_heads=num_heads,
            head_dims=head_dims)
        super().__init__(in_channels, num_layers, attn_cfg, **kwargs)
