"""The attention family's contract (:class:`BaseAttention`) and the pieces its
members share: head split/merge, all-pairs similarity counting, attention maps."""
from collections import OrderedDict
from typing import Callable, Dict, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle


def split_heads(x: Tensor, num_heads: int) -> Tensor:
    """(B, N, K*p) -> (B, K, N, p)."""
    b, n, c = x.shape
    return x.view(b, n, num_heads, c // num_heads).transpose(1, 2)


def merge_heads(x: Tensor) -> Tensor:
    """(B, K, N, p) -> (B, N, K*p)."""
    b, k, n, p = x.shape
    return x.transpose(1, 2).reshape(b, n, k * p)


def stacked_bases(weight: Tensor, num_heads: int) -> Tensor:
    """(K*p, d) projection ``W = x P^T`` -> (K, d, p) bases, detached:
    ``U_k`` is the block of head k's rows, transposed."""
    kp, d = weight.shape
    return weight.detach().reshape(num_heads, kp // num_heads, d).transpose(1, 2)


class AttentionMaps:
    """What one call of an attention layer attended to.

    Attributes:
        hw_shape: (h, w) patch grid of the call (None if the caller gave none).
        patch_start: index of the first patch token.
        extraction: (B, K, m, N) the extraction matrix ``A`` of layers that
            extract representatives (CBSA, AgentAttention), else None.

    ``tokens`` is the (B, K, N_q, N) token-to-token attention: the softmax
    attention of MHSA / MSSA / TiedMSSA, and for the other members the
    operator the layer implies (``A^T A`` for CBSA). It is formed only when
    read, so recording extraction maps never pays for an N x N matrix.
    """

    def __init__(self,
                 tokens: Union[Tensor, Callable[[], Tensor]],
                 hw_shape: Optional[Sequence[int]],
                 patch_start: int,
                 extraction: Optional[Tensor] = None) -> None:
        self._tokens = tokens
        self.hw_shape = None if hw_shape is None else tuple(int(s) for s in hw_shape)
        self.patch_start = int(patch_start)
        self.extraction = extraction

    @property
    def tokens(self) -> Tensor:
        if callable(self._tokens):
            self._tokens = self._tokens()
        return self._tokens


AttentionHook = Callable[['BaseAttention', AttentionMaps], None]


class BaseAttention(nn.Module):
    r"""The contract every member of the attention family keeps.

    Call: ``layer(x, hw_shape=None, patch_start=0)`` maps normalised tokens
    ``x`` (B, N, d) to the attention *update* (B, N, d) (the residual is the
    caller's); ``hw_shape`` (h, w) and ``patch_start`` say where the patch
    grid lies in the token sequence (members that pool patches need them,
    the others ignore them). Subclasses implement :meth:`attend`.

    Facts a layer knows about itself, so that tools ask it instead of
    keeping tables of class or parameter names:

    * :meth:`num_similarities`: dot-product similarities per image;
    * :meth:`subspace_bases`: the (K, d, p) bases ``U_k``, with ``Z U_k``
      what head k works on (the coding rate ``R(Z U_k)`` is measured there);
    * :meth:`projection_weights`: the projection matrices, by parameter name;
    * attention maps: :meth:`register_attention_hook` (the one way to read
      them; the forward pass forms them only while a hook listens).

    Args:
        embed_dims: token width d.
        num_heads: number of heads K.
        head_dims: width p of each head's subspace; d / K when omitted, in
            which case d must be divisible by K.
    """

    def __init__(self, embed_dims: int, num_heads: int, head_dims: Optional[int] = None) -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError(f'{type(self).__name__}: num_heads must be >= 1, got {num_heads}')
        if head_dims is None:
            if embed_dims % num_heads:
                raise ValueError(
                    f'{type(self).__name__}: embed_dims={embed_dims} is not divisible by '
                    f'num_heads={num_heads}; choose another num_heads or set head_dims')
            head_dims = embed_dims // num_heads
        self.embed_dims = embed_dims
        self.num_heads = num_heads
        self.head_dims = head_dims
        self._attention_hooks: Dict[int, AttentionHook] = OrderedDict()

    def attend(self, x: Tensor, hw_shape: Optional[Sequence[int]], patch_start: int,
               need_maps: bool, **kwargs) -> Tuple[Tensor, Optional[AttentionMaps]]:
        """The layer's computation: (B, N, d) -> (B, N, d) update, and its
        :class:`AttentionMaps` when ``need_maps`` (else None)."""
        raise NotImplementedError

    def forward(self,
                x: Tensor,
                hw_shape: Optional[Sequence[int]] = None,
                patch_start: int = 0,
                **kwargs) -> Tensor:
        """(B, N, d) -> (B, N, d); see the class docstring."""
        if not self._attention_hooks:
            return self.attend(x, hw_shape, patch_start, False, **kwargs)[0]
        out, maps = self.attend(x, hw_shape, patch_start, True, **kwargs)
        for hook in list(self._attention_hooks.values()):
            hook(self, maps)
        return out

    def register_attention_hook(self, hook: AttentionHook) -> RemovableHandle:
        """Call ``hook(layer, maps)`` after every forward of this layer with
        its :class:`AttentionMaps`; remove with the returned handle's
        ``remove()``. The layer's output is unchanged."""
        handle = RemovableHandle(self._attention_hooks)
        self._attention_hooks[handle.id] = hook
        return handle

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """Dot-product similarities the layer computes for one image with
        ``num_queries`` queries over ``num_tokens`` tokens (paper Table 4)."""
        raise NotImplementedError

    def subspace_bases(self) -> Tensor:
        """The subspace bases ``U_k`` as a detached (K, d, p) tensor."""
        raise NotImplementedError

    def projection_weights(self) -> Dict[str, nn.Parameter]:
        """The layer's projection matrices by parameter name (relative to the
        layer): every ``nn.Linear`` weight inside it by default; biases,
        steps, temperatures and gates are not projections."""
        return OrderedDict((f'{name}.weight', m.weight) for name, m in self.named_modules()
                           if isinstance(m, nn.Linear))


class AllPairsSimilarity:
    """Mixin for softmax attention over all tokens (MHSA, MSSA, DEPICT)."""

    num_heads: int

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """N_q * N dot products per head: every query against every token."""
        return self.num_heads * num_queries * num_tokens


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, scale: float,
                      need_maps: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """``softmax(q k^T * scale) v`` per head, (B, K, M, p) -> (B, K, M, p_v),
    and the (B, K, M, N) attention when ``need_maps`` (fused kernel otherwise)."""
    if not need_maps:
        return torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=scale), None
    attn = torch.softmax((q * scale) @ k.transpose(-1, -2), dim=-1)
    return attn @ v, attn
