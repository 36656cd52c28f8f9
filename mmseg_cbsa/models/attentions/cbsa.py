"""Contract-and-Broadcast Self-Attention (Wen, Huang, Li; NeurIPS 2025)."""
from typing import NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import MODELS
from .base import AttentionMaps, BaseAttention, split_heads, stacked_bases
from .representatives import effective_rep_grid, pool_patch_tokens

HALF_TYPES = (torch.float16, torch.bfloat16)


class ExtractionMaps(AttentionMaps):
    """:class:`AttentionMaps` of a layer that extracts representatives.

    Besides ``extraction`` (``A``, (B, K, m, N)), what one call computed in
    each head's subspace, so that analyses read the very tensors of the
    forward pass (the paper's Fig. 6 compares coding rates of these):

    Attributes:
        rep_grid: (rh, rw) with m = rh * rw. Pooled representatives: the grid
            the call actually pooled to, the layer's configured grid or less
            on a patch grid smaller than it (:func:`effective_rep_grid`); rows
            of ``extraction`` are row-major over this grid. Learned
            representatives: the configured grid, which only sets m (their
            rows have no place on the patch grid).
        rep_init: ``'pool'`` or ``'learned'``, how ``Q_0`` was formed.
        projected: (B, K, N, p) the tokens in the subspaces, ``W_k = Z U_k``.
        representatives: (B, K, m, p) the extracted representatives ``Q``.
        rep_update: (B, K, m, p) the update contraction gives them,
            ``b_k C_k``; the tokens receive ``A^T (b_k C_k)``
            (:attr:`token_update`).
    """

    def __init__(self,
                 tokens,
                 hw_shape: Optional[Sequence[int]],
                 patch_start: int,
                 extraction: Tensor,
                 rep_grid: Sequence[int],
                 rep_init: str = 'pool',
                 projected: Optional[Tensor] = None,
                 representatives: Optional[Tensor] = None,
                 rep_update: Optional[Tensor] = None) -> None:
        super().__init__(tokens, hw_shape, patch_start, extraction=extraction)
        self.rep_grid: Tuple[int, int] = (int(rep_grid[0]), int(rep_grid[1]))
        self.rep_init = rep_init
        self.projected = projected
        self.representatives = representatives
        self.rep_update = rep_update

    @property
    def token_update(self) -> Tensor:
        """(B, K, N, p) ``ΔW_k = A^T (b_k C_k)``, the broadcast update of the
        tokens in each subspace (formed when read)."""
        return self.extraction.transpose(-1, -2) @ self.rep_update


class Extraction(NamedTuple):
    r"""What :meth:`CBSA.extract` returns: the extracted representatives and
    the extraction matrix, kept factored as ``A = E r``.

    Attributes:
        representatives: (B, K, m, p) ``Q = Q_0 + a_k A W``.
        weights: (B, K, m, N) ``E = exp(Q_0 W^T / sqrt(p) - max)``, ``A``
            before its rows are normalised (:meth:`CBSA.extraction_weights`).
        norm: (B, K, m, 1) ``r``, the reciprocal row sums of ``E``.

    In float16, ``weights`` is ``A`` itself and ``norm`` is one (see
    :meth:`CBSA.extraction_weights`).
    """

    representatives: Tensor
    weights: Tensor
    norm: Tensor

    @property
    def matrix(self) -> Tensor:
        """(B, K, m, N) ``A = softmax_N(Q_0 W^T / sqrt(p)) = E r``, formed when read."""
        return self.weights * self.norm


@MODELS.register_module()
class CBSA(BaseAttention):
    r"""Contract-and-Broadcast Self-Attention, the authors' default form (eq. 8).

    Tokens are rows. With ``Z`` (B, N, d), K heads of width p and m = rh*rw
    representatives, per head k:

    .. math::
        W   &= Z P_k^\top                                   &(N \times p) \\
        Q_0 &= \mathrm{AvgPool}_{r_h \times r_w}(W_{patches})  &(m \times p) \\
        A   &= \mathrm{softmax}_{N}(Q_0 W^\top / \sqrt{p})  &(m \times N) \\
        Q   &= Q_0 + a_k \, A W                           &\text{(extract)} \\
        C   &= \mathrm{softmax}(Q Q^\top / \sqrt{p})\, Q    &\text{(contract)} \\
        \Delta W &= b_k \, A^\top C                         &\text{(broadcast)}

    and the output is ``to_out(concat_k ΔW_k)`` (K*p -> d, with bias), the
    over-parameterised replacement of the subspace bases. Cost is O(N m p) per
    head: linear in N for a fixed representative grid.

    Only the H*W patch tokens are pooled into Q_0; every other token (class
    embeddings, [CLS]) takes part in extraction and broadcast.

    Small patch grids: on an H x W grid smaller than (rh, rw) on a side (an
    elongated or tiny image), the tokens are pooled to
    ``(min(rh, H), min(rw, W))`` representatives instead
    (:meth:`rep_grid_for`), so that every input is attended; the grid a call
    used is in its attention maps (:class:`ExtractionMaps`). Inputs whose grid
    is at least (rh, rw) are computed exactly as before.

    Initial representatives (``rep_init``): ``'pool'`` (the paper's eq. 8,
    above) or ``'learned'``, m trainable vectors per head held in the head's
    subspace, ``representatives`` (K, m, p), shared by every input like
    object queries or registers (paper Appendix A, which finds that the
    extraction matrix A then has far lower rank than m; the authors' code
    draws them ``randn``, as here). Learned representatives do not depend on
    the patch grid: m = rh * rw on every input.

    Each step is a method, run in this order by the forward pass
    (:meth:`attend`): ``proj`` (W), :meth:`init_representatives` (Q_0),
    :meth:`extract` (A, Q), :meth:`contract` (C) and :meth:`broadcast`
    (ΔW and ``to_out``, folded into one product).

    Parameter names: ``proj`` is the *input* projection (the stacked subspace
    bases P_k), ``to_out`` the output map; ``step_extract`` / ``step_broadcast``
    are a_k / b_k. Its attention maps carry the extraction matrix ``A`` and,
    as token-to-token attention, the ``A^T A`` the layer implies.

    Args:
        embed_dims: token width d.
        num_heads: number of heads K.
        head_dims: subspace width p of each head (default d / K).
        rep_grid: (rh, rw) grid the patch tokens are pooled to (int for square);
            at most the patch grid on each side is used, see above.
        detach_init: stop the gradient through the pooled initial guess Q_0,
            as in the paper's derivation (the authors' code does not).
        rep_init: ``'pool'`` (default) or ``'learned'``, see above.
    """

    #: the ways of forming the initial representatives Q_0
    REP_INITS = ('pool', 'learned')

    def __init__(self,
                 embed_dims: int,
                 num_heads: int,
                 head_dims: Optional[int] = None,
                 rep_grid: Union[int, Sequence[int]] = 8,
                 detach_init: bool = False,
                 rep_init: str = 'pool') -> None:
        super().__init__(embed_dims, num_heads, head_dims)
        if rep_init not in self.REP_INITS:
            raise ValueError(f'{type(self).__name__}: rep_init must be one of {self.REP_INITS}, '
                             f'got {rep_init!r}')
        if rep_init == 'learned' and detach_init:
            raise ValueError(f'{type(self).__name__}: detach_init would stop learned '
                             'representatives from training; use it with rep_init=\'pool\'')
        head_dims = self.head_dims
        self.rep_grid: Tuple[int,
                             int] = ((rep_grid,
                                      rep_grid) if isinstance(rep_grid, int) else tuple(rep_grid))
        self.detach_init = detach_init
        self.scale = head_dims**-0.5
        inner = num_heads * head_dims
        self.proj = nn.Linear(embed_dims, inner, bias=False)
        # a_k and b_k: per-head steps, signed and randn-initialised as in the
        # authors' code so that their checkpoints mean the same thing here.
        self.step_extract = nn.Parameter(torch.randn(num_heads, 1, 1))
        self.step_broadcast = nn.Parameter(torch.randn(num_heads, 1, 1))
        self.to_out = nn.Linear(inner, embed_dims)
        self.rep_init = rep_init
        if rep_init == 'learned':
            self.representatives = nn.Parameter(
                torch.randn(num_heads, self.num_representatives, head_dims))

    @property
    def num_representatives(self) -> int:
        """m of the configured grid, rh * rw (fewer pooled ones on small
        patch grids, see :meth:`rep_grid_for`)."""
        return self.rep_grid[0] * self.rep_grid[1]

    def num_representatives_for(self, hw_shape: Optional[Sequence[int]]) -> int:
        """m on an (H, W) patch grid (the configured m for ``None``)."""
        if hw_shape is None:
            return self.num_representatives
        rh, rw = self.rep_grid_for(hw_shape)
        return rh * rw

    def rep_grid_for(self, hw_shape: Sequence[int]) -> Tuple[int, int]:
        """The representative grid used on an (H, W) patch grid: pooled,
        ``(min(rh, H), min(rw, W))``, the configured grid unless the patch
        grid is smaller on a side (:func:`effective_rep_grid`); learned,
        always the configured grid."""
        if self.rep_init == 'learned':
            return self.rep_grid
        return effective_rep_grid(hw_shape, self.rep_grid)

    def init_representatives(self, w: Tensor, hw_shape: Sequence[int], patch_start: int) -> Tensor:
        r"""Initial representatives (paper-spec section 1, step 2).

        .. math::
            Q_0 = \mathrm{AvgPool}_{r_h \times r_w}(W_{patches})

        over the K*p channels, then split into heads; or the learned
        ``representatives`` (``rep_init='learned'``, in ``w``'s dtype, for
        half precision). ``detach_init`` stops the gradient through the
        pooled ``Q_0``.

        Args:
            w: (B, N, K*p) projected tokens ``W = Z P^T``, heads not split.
            hw_shape: (H, W) patch grid.
            patch_start: index of the first of the H*W patch tokens.

        Returns:
            ``Q_0`` (B, K, m, p), m from :meth:`rep_grid_for`.
        """
        if self.rep_init == 'learned':
            return self.representatives.to(w.dtype).expand(w.shape[0], -1, -1, -1)
        q0 = pool_patch_tokens(w, hw_shape, patch_start, self.rep_grid_for(hw_shape))
        q0 = split_heads(q0, self.num_heads)
        return q0.detach() if self.detach_init else q0

    def extraction_weights(self, q0: Tensor, w: Tensor) -> Tuple[Tensor, Tensor]:
        r"""Unnormalised extraction weights: ``A = E \odot r``.

        Args:
            q0: (B, K, m, p) initial representatives.
            w: (B, K, N, p) projected tokens.

        Returns:
            ``E = exp(Q_0 W^T / sqrt(p) - max)`` (B, K, m, N) and ``r`` (B, K, m, 1),
            the reciprocal row sums, so that ``A = softmax_N(Q_0 W^T / sqrt(p)) = E r``.
            Keeping ``r`` apart lets the callers apply it to the small (m x p)
            operands instead of normalising the (m x N) matrix. ``E`` is made in
            place in the logits buffer; the shift is detached because
            ``E r`` does not depend on it.

        Half precision (autocast or a half model): a row sum of ``E`` over N
        tokens reaches N (``E <= 1``), past float16's 65,504 at N > 65,504, and
        so would ``E W``. The sum is taken in float32 for float16 and bfloat16;
        in float16 ``E`` is returned normalised (``A`` itself, out of place)
        with ``r = 1``, so that every product it enters is a weighted mean.
        """
        logits = (q0 * self.scale) @ w.transpose(-1, -2)
        e = logits.sub_(logits.amax(-1, keepdim=True).detach()).exp_()
        if e.dtype not in HALF_TYPES:
            return e, e.sum(-1, keepdim=True).reciprocal()
        r = e.sum(-1, keepdim=True, dtype=torch.float32).reciprocal()
        if e.dtype == torch.float16:
            return (e * r).to(e.dtype), torch.ones_like(r, dtype=e.dtype)
        return e, r.to(e.dtype)

    def extract(self, q0: Tensor, w: Tensor) -> Extraction:
        r"""Extraction: the representatives attend to the tokens (paper-spec
        section 1, step 3).

        .. math::
            A = \mathrm{softmax}_N(Q_0 W^\top / \sqrt{p}), \qquad
            Q = Q_0 + a_k \, A W

        Args:
            q0: (B, K, m, p) initial representatives ``Q_0``
                (:meth:`init_representatives`).
            w: (B, K, N, p) projected tokens ``W``.

        Returns:
            :class:`Extraction`: ``Q`` (B, K, m, p) and ``A`` (B, K, m, N)
            kept factored as ``A = E r`` (:meth:`extraction_weights`), so that
            ``A W = (E W) r`` and the broadcast normalise the (m x p) products
            instead of the (m x N) matrix; ``Extraction.matrix`` forms ``A``.
        """
        if w.dtype in HALF_TYPES:
            # half-precision batched GEMMs copy a strided operand on every
            # call (the logits and E W both read w): copy it once
            w = w.contiguous()
        e, r = self.extraction_weights(q0, w)
        return Extraction(q0 + self.step_extract * ((e @ w) * r), e, r)

    def contract(self, q: Tensor) -> Tensor:
        r"""Contraction: self-attention among the representatives
        (paper-spec section 1, step 4).

        .. math::
            C = \mathrm{softmax}(Q Q^\top / \sqrt{p})\, Q

        Args:
            q: (B, K, m, p) extracted representatives ``Q``.

        Returns:
            ``C`` (B, K, m, p). The step size ``b_k`` is applied by
            :meth:`broadcast`, as in the equation ``ΔW = b_k A^T C``.
        """
        return F.scaled_dot_product_attention(q, q, q, scale=self.scale)

    def broadcast(self, attn: Tensor, c: Tensor, norm: Optional[Tensor] = None) -> Tensor:
        r"""Broadcast: the contracted representatives sent back to the tokens
        with the extraction matrix, heads merged and mapped out (paper-spec
        section 1, steps 5 and 6).

        .. math::
            \Delta W_k = b_k \, A_k^\top C_k, \qquad
            \text{out} = \mathrm{to\_out}(\mathrm{concat}_k \, \Delta W_k)

        Args:
            attn: (B, K, m, N) the extraction matrix ``A``, or its
                unnormalised ``E`` when ``norm`` is given.
            c: (B, K, m, p) contracted representatives ``C``.
            norm: (B, K, m, 1) ``r`` with ``A = E r`` (:class:`Extraction`),
                applied to ``c``: ``A^T C = E^T (r C)``.

        Returns:
            (B, N, d) the layer's update.

        ``to_out`` is linear, so with its weight split per head as ``U_k``
        (d x p) the output is :math:`\sum_k A_k^\top (b_k C_k U_k^\top) +
        \text{bias}`, one (N x Km) @ (Km x d) product on small (Km x d)
        right-hand sides, without forming ``ΔW`` (N x K p) or merging heads:
        N K m d multiply-adds instead of N K m p + N K p d. It is always
        folded, so that training, eager inference and an exported graph
        compute the same function for every N (the extra K m p d do not grow
        with N).
        """
        if norm is not None:
            # the row normalisation of A rides on the (m x p) side
            c = c * norm
        b, k, m, _ = attn.shape
        u = self.to_out.weight.view(self.embed_dims, k, self.head_dims)
        right = torch.einsum('bkmp,dkp->bkmd', self.step_broadcast * c, u)
        coeff = attn.reshape(b, k * m, -1).transpose(1, 2)  # (B, N, Km)
        right = right.reshape(b, k * m, -1)
        if coeff.dtype in HALF_TYPES:
            # half-precision GEMMs here do not accumulate into a bias (baddbmm
            # pays an extra pass and an (N, d) cast of the expanded bias):
            # add the d cast values afterwards
            return torch.bmm(coeff, right).add_(self.to_out.bias.to(coeff.dtype))
        # the bias enters as the GEMM's accumulator: no extra pass over (N, d)
        bias = self.to_out.bias.expand(b, coeff.shape[1], self.embed_dims)
        return torch.baddbmm(bias, coeff, right)

    def num_similarities(self,
                         num_queries: int,
                         num_tokens: int,
                         hw_shape: Optional[Sequence[int]] = None) -> int:
        """Dot-product similarities per image: m*N (extraction) plus the
        m(m+1)/2 distinct entries of the symmetric Q Q^T (contraction), per head.

        m is the configured rh * rw, the count for every patch grid at least
        (rh, rw); for a smaller one pass its ``hw_shape`` to count the
        representatives actually used (:meth:`rep_grid_for`)."""
        m = self.num_representatives_for(hw_shape)
        return self.num_heads * (m * num_tokens + m * (m + 1) // 2)

    # the name subclasses (AgentAttention) call
    _num_representatives_for = num_representatives_for

    def attend(self, x: Tensor, hw_shape: Sequence[int], patch_start: int,
               need_maps: bool) -> Tuple[Tensor, Optional[AttentionMaps]]:
        """(B, N, d) tokens (already normalised by the caller) -> (B, N, d).

        ``hw_shape`` (H, W) is the patch grid; the patches are
        ``x[:, patch_start:patch_start + H*W]`` (0 when class embeddings are
        appended, 1 after a leading [CLS]).
        """
        if hw_shape is None:
            raise ValueError(f'{type(self).__name__} pools the patch grid into its '
                             'representatives: call it with hw_shape=(H, W)')
        # the steps of paper-spec section 1, each a method of the layer
        w = self.proj(x)  # W = Z P^T, (B, N, K*p)
        q0 = self.init_representatives(w, hw_shape, patch_start)  # (B, K, m, p)
        w = split_heads(w, self.num_heads)  # (B, K, N, p)
        extraction = self.extract(q0, w)
        contracted = self.contract(extraction.representatives)
        out = self.broadcast(extraction.weights, contracted, extraction.norm)
        maps = None
        if need_maps:
            attn = extraction.matrix
            maps = ExtractionMaps(
                lambda: attn.transpose(-1, -2) @ attn,
                hw_shape,
                patch_start,
                extraction=attn,
                rep_grid=self.rep_grid_for(hw_shape),
                rep_init=self.rep_init,
                projected=w,
                representatives=extraction.representatives,
                rep_update=self.step_broadcast * contracted)
        return out, maps

    def subspace_bases(self) -> Tensor:
        """The rows of head k of the bias-free input projection ``proj``, transposed."""
        return stacked_bases(self.proj.weight, self.num_heads)

    def extra_repr(self) -> str:
        return (f'embed_dims={self.embed_dims}, num_heads={self.num_heads}, '
                f'head_dims={self.head_dims}, rep_grid={self.rep_grid}, '
                f'detach_init={self.detach_init}, rep_init={self.rep_init!r}')
