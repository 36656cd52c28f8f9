"""CBT decoder: stacked CBSA layers on patch tokens and class embeddings."""
from typing import Optional, Sequence, Union

from ...registry import MODELS

from ..layers import attention_cfg
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
        rep_grid: representative grid (int for square, or (rh, rw)).
        detach_init: stop-gradient on the pooled initial representatives.
        attn_cfg: another attention layer in place of CBSA, any registered
            member of the family, e.g. ``dict(type='AgentAttention',
            rep_grid=10)`` or ``dict(type='MSSA')``; ``num_heads`` and
            ``head_dims`` default to the head's, ``rep_grid``,
            ``detach_init`` and ``rep_init`` apply to the default CBSA only
            (a CBSA given here takes its own, e.g. CBSA's 8x8 grid).
        rep_init: ``'pool'`` (default) or ``'learned'``: rh * rw trainable
            representatives per head instead of pooled ones (paper
            Appendix A), see :class:`~mmseg_cbsa.models.attentions.CBSA`.

    Shapes:
        inputs[in_index] (B, d, h, w) -> logits (B, num_classes, h, w).
    """

    def __init__(self,
                 in_channels: int,
                 num_layers: int = 3,
                 num_heads: int = 3,
                 head_dims: int = 100,
                 rep_grid: Union[int, Sequence[int]] = 10,
                 detach_init: bool = False,
                 attn_cfg: Optional[dict] = None,
                 rep_init: str = 'pool',
                 **kwargs) -> None:
        attn_cfg = attention_cfg(
            attn_cfg,
            dict(type='CBSA', rep_grid=rep_grid, detach_init=detach_init, rep_init=rep_init),
            num_heads=num_heads,
            head_dims=head_dims)
        super().__init__(in_channels, num_layers, attn_cfg, **kwargs)
