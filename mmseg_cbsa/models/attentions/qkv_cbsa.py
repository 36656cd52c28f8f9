"""CBSA on a pretrained ViT's projections: the paper's ViT adaptation (Fig. 9)."""
from typing import Optional, Sequence, Tuple, Union

from torch import Tensor

from ...registry import MODELS
from .base import AttentionMaps, merge_heads, softmax_attention, split_heads
from .cbsa import ExtractionMaps
from .mhsa import MHSA
from .representatives import effective_rep_grid, pool_patch_tokens


@MODELS.register_module()
class QKVCBSA(MHSA):
    r"""Contract-and-broadcast attention on separate query / key / value maps.

    The form in which the authors adapt ImageNet-21k ViTs (timm weights) into
    CBSA style (``CBSA_finetune_vit`` of their release, paper Fig. 9): the
    parameters are exactly MHSA's (``qkv``: q, k, v with bias; ``proj``: the
    output map), so a pretrained ViT block loads unchanged and nothing new is
    learnt from scratch. With ``q, k, v`` (B, K, N, p) from ``qkv`` and m =
    rh * rw representatives, per head:

    .. math::
        R_0 &= \mathrm{AvgPool}_{r_h \times r_w}(q_{patches})      &(m \times p) \\
        A   &= \mathrm{softmax}_N(R_0 k^\top / \sqrt{p})         &(m \times N) \\
        R   &= R_0 + A v                                        &\text{(extract)} \\
        C   &= \mathrm{softmax}(R R^\top / \sqrt{p})\, R           &\text{(contract)} \\
        B   &= \mathrm{softmax}_m(q R^\top / \sqrt{p})           &(N \times m) \\
        \Delta &= B\, C                                        &\text{(broadcast)}

    and the output is ``proj(concat_k Δ_k)``. The queries are pooled into the
    initial representatives (before the head split, as in the authors' code;
    pooling is channel-wise, so this equals pooling per head); the keys and
    values are what the representatives extract from; the tokens' queries
    broadcast the contracted representatives back, through a softmax over the
    m representatives instead of ``A^T`` because q and k differ here.

    ``contraction=False`` is the form the authors' released code runs (their
    contraction lines are commented out), Agent Attention on pooled queries:
    ``Δ = softmax_m(q R_0^T / sqrt p) · softmax_N(R_0 k^T / sqrt p) v``. With
    contraction, the update ``R = R_0 + A v``, the contraction and the
    broadcast against ``R`` follow the order of those commented lines; the
    release does not run that form, so it is this project's reading of it.

    Cost O(N m p) per head, linear in N for a fixed grid. Only the H*W patch
    tokens are pooled (the correct grid by default; a backbone with
    ``legacy_cls_pooling`` passes the authors' shifted one). On a patch grid
    smaller than (rh, rw) on a side, ``(min(rh, H), min(rw, W))``
    representatives are used (:func:`effective_rep_grid`).

    Attention maps: ``extraction`` is ``A``; ``tokens`` is the operator
    through which the values reach the tokens, ``B A`` without contraction
    and ``B S A`` with it (``S`` the contraction's softmax).

    Args:
        embed_dims: token width d.
        num_heads: number of heads K; head width p = d / K.
        head_dims: p, if not d / K.
        qkv_bias: bias on the fused q, k, v projection (timm's ViTs have it).
        rep_grid: (rh, rw) grid the queries are pooled to (int for square);
            the authors use 8.
        contraction: run the contraction step (False: the authors' released
            form, "CBSA without contraction" of Fig. 9).
    """

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 head_dims: Optional[int] = None,
                 qkv_bias: bool = True,
                 rep_grid: Union[int, Sequence[int]] = 8,
                 contraction: bool = True) -> None:
        super().__init__(embed_dims, num_heads, head_dims, qkv_bias=qkv_bias)
        self.rep_grid: Tuple[int,
                             int] = ((rep_grid,
                                      rep_grid) if isinstance(rep_grid, int) else tuple(rep_grid))
        self.contraction = contraction

    def rep_grid_for(self, hw_shape: Sequence[int]) -> Tuple[int, int]:
        """The representative grid used on an (H, W) patch grid
        (:func:`effective_rep_grid`)."""
        return effective_rep_grid(hw_shape, self.rep_grid)

    def num_similarities(self,
                         num_queries: int,
                         num_tokens: int,
                         hw_shape: Optional[Sequence[int]] = None) -> int:
        """Per head: m*N (extraction) + N*m (broadcast), plus the m(m+1)/2
        distinct entries of the symmetric ``R R^T`` with contraction. m is the
        configured rh * rw, or the one used on ``hw_shape`` if given."""
        rh, rw = self.rep_grid if hw_shape is None else self.rep_grid_for(hw_shape)
        m = rh * rw
        contract = m * (m + 1) // 2 if self.contraction else 0
        return self.num_heads * (2 * m * num_tokens + contract)

    def attend(self, x: Tensor, hw_shape: Sequence[int], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        """(B, N, d) tokens (already normalised by the caller) -> (B, N, d);
        the patches are ``x[:, patch_start:patch_start + H*W]``."""
        if hw_shape is None:
            raise ValueError(f'{type(self).__name__} pools the patch grid into its '
                             'representatives: call it with hw_shape=(H, W)')
        b, n, _ = x.shape
        inner = self.num_heads * self.head_dims
        qkv = self.qkv(x)
        grid = self.rep_grid_for(hw_shape)
        r0 = split_heads(
            pool_patch_tokens(qkv[..., :inner], hw_shape, patch_start, grid), self.num_heads)
        q, k, v = qkv.view(b, n, 3, self.num_heads, self.head_dims).permute(2, 0, 3, 1, 4)
        extracted, extraction = softmax_attention(r0, k, v, self.scale, need_maps)
        if self.contraction:
            reps = r0 + extracted
            values, contraction = softmax_attention(reps, reps, reps, self.scale, need_maps)
        else:
            reps, values, contraction = r0, extracted, None
        out, broadcast = softmax_attention(q, reps, values, self.scale, need_maps)
        maps = None
        if need_maps:

            def tokens() -> Tensor:
                mix = extraction if contraction is None else contraction @ extraction
                return broadcast @ mix

            maps = ExtractionMaps(
                tokens, hw_shape, patch_start, extraction=extraction, rep_grid=grid)
        return self.proj(merge_heads(out)), maps

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'head_dims={self.head_dims}, rep_grid={self.rep_grid}, '
                f'contraction={self.contraction}')
