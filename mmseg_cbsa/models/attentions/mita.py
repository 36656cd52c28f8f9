"""Mixture-of-Top-k Attention (Wen, Huang, He, Meng, Li; arXiv 2602.01219)."""
from typing import Callable, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from ...registry import MODELS
from .base import AttentionMaps, merge_heads, split_heads
from .cbsa import HALF_TYPES, ExtractionMaps
from .mhsa import MHSA
from .representatives import effective_rep_grid, pool_patch_tokens

try:  # the optional fused kernel; never required
    from flash_attn import flash_attn_varlen_func
except ImportError:  # pragma: no cover - depends on the environment
    flash_attn_varlen_func = None

#: the scales of the router logits in the mixed softmax (see :class:`MiTA`)
ROUTER_SCALES = ('code', 'keys')


class Routing(NamedTuple):
    """Where MiTA sends each query, per head.

    Attributes:
        experts: (B, K, N) the expert (router) of each query, ``argmax_m R_m q``,
            the first maximum on ties.
        key_index: (B, K, M, k) the top-k keys of each router by ``R_m k_j``.
        compression: (B, K, M, N) ``softmax_N(R K^T / sqrt(p))``, the weights
            of the compressed values ``V_R``.
    """

    experts: Tensor
    key_index: Tensor
    compression: Tensor


class MixtureMaps(ExtractionMaps):
    """:class:`ExtractionMaps` of MiTA: ``extraction`` is the compression
    ``softmax_N(R K^T / sqrt(p))`` (B, K, M, N); besides it ``experts``
    (B, K, N), the router each query went to, and ``key_index`` (B, K, M, k),
    each router's top-k keys."""

    def __init__(self, tokens, hw_shape, patch_start, routing: Routing,
                 rep_grid: Sequence[int]) -> None:
        super().__init__(
            tokens, hw_shape, patch_start, extraction=routing.compression, rep_grid=rep_grid)
        self.experts = routing.experts
        self.key_index = routing.key_index


def top_keys(k: Tensor, routers: Tensor, topk: int) -> Tuple[Tensor, Tensor]:
    """Each router's top-k keys (an integer decision: no gradient through it).

    Args:
        k: (B, K, N, p) keys.
        routers: (B, K, M, p) the landmark queries ``R``.
        topk: keys per router; at most N are taken.

    Returns:
        ``key_index`` (B, K, M, min(topk, N)) and the (B, K, M, N) scores
        ``R K^T`` (unscaled; the compression's logits too). The top-k set is
        torch.topk's, as in the authors' code: on exactly tied scores which
        keys it keeps is the kernel's choice.
    """
    n = k.shape[-2]
    kk = torch.sym_min(int(topk), n) if isinstance(n, torch.SymInt) else min(int(topk), n)
    scores = routers @ k.transpose(-1, -2)
    key_index = scores.detach().topk(kk, dim=-1, sorted=False).indices
    return key_index, scores


class MixedAttentionKernel(NamedTuple):
    """The operands of MiTA's mixed softmax for each query i of expert e:
    logits ``[q_i R^T * router_scale ; q_i K_{top(e)}^T * scale]`` over
    values ``[V_R ; V_{top(e)}]``."""

    routers: Tensor  # (B, K, M, p)
    compressed: Tensor  # (B, K, M, p) V_R
    key_index: Tensor  # (B, K, M, k)
    experts: Tensor  # (B, K, N)
    scale: float
    router_scale: float


def mixed_attention(q: Tensor, k: Tensor, v: Tensor, router_logits: Tensor,
                    mix: MixedAttentionKernel) -> Tuple[Tensor, Tensor, Tensor]:
    """Pure-PyTorch mixed attention: one softmax per query over the M routers
    and its expert's top-k keys, by gathering those keys and values.

    Args:
        q, k, v: (B, K, N, p) queries, keys, values.
        router_logits: (B, K, N, M) ``q R^T`` (unscaled).
        mix: the routing and the scales.

    Returns:
        the (B, K, N, p) output, the (B, K, N, M + k) softmax weights and the
        (B, K, N, k) key index of each query (for the attention maps).
    """
    b, h, n, p = q.shape
    kk = mix.key_index.shape[-1]
    index = mix.key_index.gather(2, mix.experts[..., None].expand(b, h, n, kk))  # (B, K, N, k)
    flat = index.flatten(2)[..., None].expand(b, h, n * kk, p)
    keys = k.gather(2, flat).unflatten(2, (n, kk))  # (B, K, N, k, p)
    values = v.gather(2, flat).unflatten(2, (n, kk))
    # per-query (k x p) @ (p x 1) products: batched matmuls, which FLOP counters count exactly
    key_logits = (keys @ q[..., None]).squeeze(-1) * mix.scale
    weights = torch.softmax(torch.cat((router_logits * mix.router_scale, key_logits), -1), -1)
    m = router_logits.shape[-1]
    out = weights[..., :m] @ mix.compressed + (weights[..., None, m:] @ values).squeeze(-2)
    return out, weights, index


VarlenKernel = Callable[..., Tensor]


def mixed_attention_varlen(q: Tensor, k: Tensor, v: Tensor, mix: MixedAttentionKernel,
                           kernel: VarlenKernel) -> Tensor:
    """The mixed attention as one variable-length attention call (flash-attn's
    ``flash_attn_varlen_func`` signature), the layout of the authors' fast path
    with the routers placed inside each expert's key set instead of a second
    call merged by log-sum-exp (the same softmax).

    Queries are sorted by (image, head, expert); expert g's keys are
    ``[R * router_scale / scale ; K_{top(g)}]`` and values ``[V_R ; V_{top(g)}]``
    (M + k of each); experts that no query chose are left out.

    Args:
        q, k, v: (B, K, N, p).
        mix: the routing and the scales.
        kernel: ``kernel(q, k, v, cu_seqlens_q, cu_seqlens_k, max_seqlen_q,
            max_seqlen_k, softmax_scale=...)`` on (total, 1, p) operands.

    Returns:
        (B, K, N, p) the output.
    """
    b, h, n, p = q.shape
    m, kk = mix.key_index.shape[-2:]
    groups = (torch.arange(b * h, device=q.device).view(b, h, 1) * m + mix.experts).flatten()
    order = torch.argsort(groups)
    counts = torch.bincount(groups, minlength=b * h * m)
    used = counts > 0
    index = mix.key_index[..., None].expand(b, h, m, kk, p).flatten(2, 3)
    top_k = k.gather(2, index).unflatten(2, (m, kk))  # (B, K, M, k, p)
    top_v = v.gather(2, index).unflatten(2, (m, kk))
    routers = (mix.routers * (mix.router_scale / mix.scale))[:, :, None].expand(b, h, m, m, p)
    compressed = mix.compressed[:, :, None].expand(b, h, m, m, p)
    keys = torch.cat((routers, top_k), 3).flatten(0, 2)[used]  # (G, M + k, p)
    values = torch.cat((compressed, top_v), 3).flatten(0, 2)[used]
    zero = counts.new_zeros(1)
    cu_q = torch.cat((zero, counts[used].cumsum(0))).to(torch.int32)
    span = m + kk
    cu_k = (torch.arange(keys.shape[0] + 1, device=q.device) * span).to(torch.int32)
    out = kernel(
        q.reshape(-1, 1, p)[order],
        keys.reshape(-1, 1, p),
        values.reshape(-1, 1, p),
        cu_q,
        cu_k,
        int(counts.max()),
        span,
        softmax_scale=mix.scale)
    return torch.empty_like(out).index_copy_(0, order, out).view(b, h, n, p)


@MODELS.register_module()
class MiTA(MHSA):
    r"""Mixture-of-Top-k Attention, on MHSA's parameters (``qkv``, ``proj``).

    Per head, with ``q, k, v`` (N x p) and M = s_h * s_w landmark queries:

    .. math::
        R   &= \mathrm{AvgPool}_{s_h \times s_w}(q_{patches})     &(M \times p) \\
        V_R &= \mathrm{softmax}_N(R K^\top / \sqrt{p})\, V        &\text{(compressed expert)} \\
        T_m &= \mathrm{top}\text{-}k_j(R_m \cdot k_j)             &\text{(expert m's keys)} \\
        e_i &= \mathrm{argmax}_m\, R_m \cdot q_i                  &\text{(query i's expert)} \\
        o_i &= \mathrm{softmax}([q_i R^\top \sigma_R ;\; q_i K_{T_{e_i}}^\top / \sqrt{p}])
               \,[V_R ;\; V_{T_{e_i}}]

    and the output is ``proj(concat_k o)``. Each query attends, in one softmax,
    to all M routers (carrying the compressed values) and to the k keys its
    expert chose: M + k similarities per query, linear in N for fixed M, k.

    Choices that follow the authors' code (MiTA-DeiT / MiTA-Segmenter):

    * routers pool the queries over all K*p channels before the head split
      (channel-wise, so the same as per head); only the H*W patch tokens are
      pooled, every token is a query and a key. The authors' code pools
      ``q[:, :-1]`` as a square grid, i.e. with [CLS] *in* the grid and the
      last patch left out; a backbone with ``legacy_cls_pooling=True`` passes
      that shifted grid (``patch_start=0``), as for CBSA;
    * the top-k scores ``R K^T`` and the gate ``R q`` are unscaled (neither
      scale changes a top-k or an argmax); the argmax takes the first maximum
      on ties;
    * ``router_scale='code'``: the routers' logits in the mixed softmax are
      ``q . R / p``; the authors hand ``R * p^-1/2`` to a kernel that scales
      by ``p^-1/2`` again. ``'keys'`` scales them as the keys, ``/ sqrt(p)``.

    Where this layer differs from that code, so that every input works: on a
    patch grid smaller than (s_h, s_w) on a side, ``min(s, H)`` routers per
    side are used (:func:`effective_rep_grid`, as CBSA; the authors' adaptive
    pooling would repeat cells); at most N keys per router are taken; any
    (H, W) grid, not only squares.

    Computation: :func:`mixed_attention` (gathers each query's k keys and
    values; any device and dtype, exportable). On CUDA in half precision with
    flash-attn importable, without attention maps and ``fast_path``,
    :func:`mixed_attention_varlen` runs it as one flash-attn varlen call.

    Attention maps (:class:`MixtureMaps`): ``extraction`` is the compression
    (M x N); ``tokens`` the operator through which the values reach the
    queries: the routers' weights times the compression plus the weights on
    the selected keys.

    Args:
        embed_dims: token width d.
        num_heads: number of heads K; head width p = d / K.
        head_dims: p, if not d / K.
        qkv_bias: bias on the fused q, k, v projection.
        pool_size: (s_h, s_w) router grid, int for square; the authors use 5
            (DeiT) and 7 (Segmenter).
        topk: keys per router; the authors' DeiT takes ``kv_topk ** 2`` = 25,
            their Segmenter M = 49.
        router_scale: ``'code'`` or ``'keys'``, see above.
        fast_path: use flash-attn where it applies (see above).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 head_dims: Optional[int] = None,
                 qkv_bias: bool = True,
                 pool_size: Union[int, Sequence[int]] = 5,
                 topk: int = 25,
                 router_scale: str = 'code',
                 fast_path: bool = True) -> None:
        super().__init__(embed_dims, num_heads, head_dims, qkv_bias=qkv_bias)
        if router_scale not in ROUTER_SCALES:
            raise ValueError(f'{type(self).__name__}: router_scale must be one of '
                             f'{ROUTER_SCALES}, got {router_scale!r}')
        if topk < 1:
            raise ValueError(f'{type(self).__name__}: topk must be >= 1, got {topk}')
        self.pool_size: Tuple[int, int] = ((pool_size, pool_size)
                                           if isinstance(pool_size, int) else tuple(pool_size))
        self.topk = int(topk)
        self.router_scale = router_scale
        self.fast_path = fast_path

    def pool_size_for(self, hw_shape: Sequence[int]) -> Tuple[int, int]:
        """The router grid used on an (H, W) patch grid (:func:`effective_rep_grid`)."""
        return effective_rep_grid(hw_shape, self.pool_size)

    def num_similarities(self,
                         num_queries: int,
                         num_tokens: int,
                         hw_shape: Optional[Sequence[int]] = None) -> int:
        """Per head: M*N router-key scores (top-k selection and compression
        share them), N_q*M query-router scores (gate and mixed softmax share
        them) and N_q*k query-key ones, k = min(topk, N). M is the configured
        grid's, or the one used on ``hw_shape``."""
        sh, sw = self.pool_size if hw_shape is None else self.pool_size_for(hw_shape)
        m = sh * sw
        kk = min(self.topk, num_tokens)
        return self.num_heads * (m * num_tokens + num_queries * (m + kk))

    def routers(self, q: Tensor, hw_shape: Sequence[int], patch_start: int) -> Tensor:
        """(B, N, K*p) queries, heads not split -> (B, K, M, p) routers ``R``."""
        grid = self.pool_size_for(hw_shape)
        return split_heads(pool_patch_tokens(q, hw_shape, patch_start, grid), self.num_heads)

    def attend(self, x: Tensor, hw_shape: Sequence[int], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        """(B, N, d) tokens (already normalised by the caller) -> (B, N, d);
        the patches are ``x[:, patch_start:patch_start + H*W]``."""
        if hw_shape is None:
            raise ValueError(f'{type(self).__name__}: its routers are pooled from the patch '
                             'grid; call it with hw_shape=(H, W)')
        b, n, _ = x.shape
        queries, keys, values = self.qkv(x).chunk(3, dim=-1)  # timm's (3, K, p) layout
        routers = self.routers(queries, hw_shape, patch_start)
        q, k, v = (split_heads(t, self.num_heads) for t in (queries, keys, values))
        key_index, scores = top_keys(k, routers, self.topk)
        compression = torch.softmax(scores * self.scale, -1)  # (B, K, M, N)
        router_logits = q @ routers.transpose(-1, -2)  # (B, K, N, M), the gate
        experts = router_logits.detach().argmax(-1)
        mix = MixedAttentionKernel(routers, compression @ v, key_index, experts, self.scale,
                                   self.scale**2 if self.router_scale == 'code' else self.scale)
        if (not need_maps and self.fast_path and flash_attn_varlen_func is not None and x.is_cuda
                and x.dtype in HALF_TYPES):
            out = mixed_attention_varlen(q, k, v, mix, flash_attn_varlen_func)
            return self.proj(merge_heads(out)), None
        out, weights, index = mixed_attention(q, k, v, router_logits, mix)
        maps = None
        if need_maps:
            m = routers.shape[2]

            def tokens() -> Tensor:
                via_routers = weights[..., :m] @ compression  # (B, K, N, N)
                return via_routers.scatter_add(-1, index, weights[..., m:])

            maps = MixtureMaps(tokens, hw_shape, patch_start,
                               Routing(experts, key_index, compression),
                               self.pool_size_for(hw_shape))
        return self.proj(merge_heads(out)), maps

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'head_dims={self.head_dims}, pool_size={self.pool_size}, topk={self.topk}, '
                f'router_scale={self.router_scale!r}')
