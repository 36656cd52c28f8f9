"""Reference forward passes in the authors' parameter layout.

Written from the paper-spec equations with plain tensor operations and
explicit loops over heads; nothing here imports mmseg_cbsa, so a test that
compares the two checks the project against an independent computation.
``sd`` arguments are state dicts keyed exactly as the authors' modules name
their parameters (Segmenter's ViT, ``MaskTransformer`` decoders, the CBT /
CRATE / ToST classifiers).
"""
import math
from typing import Dict, List, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

SD = Dict[str, Tensor]


def layer_norm(x: Tensor, sd: SD, key: str, eps: float = 1e-5) -> Tensor:
    mu = x.mean(-1, keepdim=True)
    var = x.var(-1, unbiased=False, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * sd[key + '.weight'] + sd[key + '.bias']


def linear(x: Tensor, sd: SD, key: str) -> Tensor:
    y = x @ sd[key + '.weight'].T
    return y + sd[key + '.bias'] if key + '.bias' in sd else y


def adaptive_avg_pool(grid: Tensor, out: Tuple[int, int]) -> Tensor:
    """(H, W, C) -> (rh*rw, C) by the definition of adaptive average pooling."""
    H, W, C = grid.shape
    rh, rw = out
    rows = []
    for i in range(rh):
        hs, he = (i * H) // rh, math.ceil((i + 1) * H / rh)
        for j in range(rw):
            ws, we = (j * W) // rw, math.ceil((j + 1) * W / rw)
            rows.append(grid[hs:he, ws:we].reshape(-1, C).mean(0))
    return torch.stack(rows)


def softmax_rows(m: Tensor) -> Tensor:
    e = torch.exp(m - m.max(-1, keepdim=True).values)
    return e / e.sum(-1, keepdim=True)


# ------------------------------------------------------------- attention
def cbsa(x: Tensor, sd: SD, pre: str, heads: int, pooled_rows: slice, grid_hw: Tuple[int, int],
         rep: Tuple[int, int]) -> Tensor:
    """Paper-spec 1 for one image: x (N, d); rows ``pooled_rows`` of the
    projection form the (H, W) grid that is pooled into the representatives."""
    P = sd[pre + 'proj.weight']
    W = x @ P.T
    p = P.shape[0] // heads
    q0_all = adaptive_avg_pool(W[pooled_rows].reshape(*grid_hw, -1), rep)
    out = []
    for k in range(heads):
        Wk, Q0 = W[:, k * p:(k + 1) * p], q0_all[:, k * p:(k + 1) * p]
        A = softmax_rows(Q0 @ Wk.T / math.sqrt(p))
        Q = Q0 + sd[pre + 'step_rep'][k, 0, 0] * (A @ Wk)
        C = softmax_rows(Q @ Q.T / math.sqrt(p)) @ Q
        out.append(sd[pre + 'step_x'][k, 0, 0] * (A.T @ C))
    return linear(torch.cat(out, 1), sd, pre + 'to_out')


def mssa(x: Tensor,
         sd: SD,
         pre: str,
         heads: int,
         qkv_key: str = 'qkv',
         out_key: str = 'to_out') -> Tensor:
    W = x @ sd[pre + qkv_key + '.weight'].T
    p = W.shape[1] // heads
    out = [
        softmax_rows(W[:, k * p:(k + 1) * p] @ W[:, k * p:(k + 1) * p].T / math.sqrt(p))
        @ W[:, k * p:(k + 1) * p] for k in range(heads)
    ]
    return linear(torch.cat(out, 1), sd, pre + out_key)


def tied_mssa(x: Tensor, sd: SD, pre: str, heads: int, query: Tensor = None) -> Tensor:
    """DEPICT: s * (softmax(Q W^T / sqrt p) W) U with W = x U^T, Q = W or query U^T."""
    U = sd[pre + 'proj']
    W = x @ U.T
    Qf = W if query is None else query @ U.T
    p = U.shape[0] // heads
    out = [
        softmax_rows(Qf[:, k * p:(k + 1) * p] @ W[:, k * p:(k + 1) * p].T / math.sqrt(p))
        @ W[:, k * p:(k + 1) * p] for k in range(heads)
    ]
    return sd[pre + 'step_size'] * (torch.cat(out, 1) @ U)


def tssa(x: Tensor, sd: SD, pre: str, heads: int) -> Tensor:
    """ToST: memberships over heads from normalised projection energies."""
    W = x @ sd[pre + 'qkv.weight'].T
    N, D = W.shape
    p = D // heads
    Ws = [W[:, k * p:(k + 1) * p] for k in range(heads)]
    energy = torch.stack([(w / w.norm(dim=0, keepdim=True)).pow(2).sum(1) for w in Ws])  # (K, N)
    Pi = softmax_rows((energy * sd[pre + 'temp']).T).T  # over K
    out = []
    for k, w in enumerate(Ws):
        weights = Pi[k] / (Pi[k].sum() + 1e-8)
        moment = weights @ w.pow(2)  # (p,)
        out.append(-(w * Pi[k][:, None]) / (1 + moment))
    return linear(torch.cat(out, 1), sd, pre + 'to_out')


def ista(x: Tensor, D: Tensor, eta: float = 0.1, lam: float = 0.1) -> Tensor:
    return torch.relu(x + eta * (x @ D - (x @ D.T) @ D) - eta * lam)


# ------------------------------------------------------------- encoders
def segmenter_vit(img: Tensor, sd: SD, heads: int, patch: int = 16) -> Tensor:
    """Segmenter's ViT on one image (3, H, W) at the embedding's own grid:
    returns all tokens (1 + N, d) after the final LayerNorm."""
    x = F.conv2d(
        img[None], sd['patch_embed.proj.weight'], sd['patch_embed.proj.bias'],
        stride=patch)[0].flatten(1).T
    x = torch.cat([sd['cls_token'][0], x]) + sd['pos_embed'][0]
    depth = 1 + max(int(k.split('.')[1]) for k in sd if k.startswith('blocks.'))
    for i in range(depth):
        b = f'blocks.{i}.'
        h = layer_norm(x, sd, b + 'norm1')
        qkv = linear(h, sd, b + 'attn.qkv')
        d = x.shape[1]
        p = d // heads
        q, k, v = qkv[:, :d], qkv[:, d:2 * d], qkv[:, 2 * d:]
        att = torch.cat([
            softmax_rows(q[:, j * p:(j + 1) * p] @ k[:, j * p:(j + 1) * p].T / math.sqrt(p))
            @ v[:, j * p:(j + 1) * p] for j in range(heads)
        ], 1)
        x = x + linear(att, sd, b + 'attn.proj')
        h = layer_norm(x, sd, b + 'norm2')
        x = x + linear(F.gelu(linear(h, sd, b + 'mlp.fc1')), sd, b + 'mlp.fc2')
    return layer_norm(x, sd, 'norm')


def classifier_features(img: Tensor, sd: SD, heads: int, kinds: List[str]) -> Tensor:
    """The authors' CBT/CRATE/ToST classifier on one 224x224 image with the
    conv stem (BatchNorm in eval mode): tokens after ``mlp_head[0]`` (1 + N, d)."""
    x = img[None]
    convs = sorted({int(k.split('.')[2]) for k in sd if k.startswith('to_patch_embedding.proj.')})
    for n, i in enumerate(convs):
        pre = f'to_patch_embedding.proj.{i}.'
        x = F.conv2d(x, sd[pre + '0.weight'], stride=2, padding=1)
        x = ((x - sd[pre + '1.running_mean'][:, None, None]) /
             torch.sqrt(sd[pre + '1.running_var'][:, None, None] + 1e-5) *
             sd[pre + '1.weight'][:, None, None] + sd[pre + '1.bias'][:, None, None])
        if n < len(convs) - 1:
            x = F.gelu(x)
    x = x[0].flatten(1).T
    n = x.shape[0]
    side = int(n**0.5)
    x = torch.cat([sd['cls_token'][0], x]) + sd['pos_embedding'][0, :n + 1]
    for i, kind in enumerate(kinds):
        pre = f'transformer.layers.{i}.'
        h = layer_norm(x, sd, pre + '0.norm')
        if kind == 'CBSA':
            # the authors pool tokens[:, :-1] on the grid, with [CLS] first
            x = x + cbsa(h, sd, pre + '0.fn.', heads, slice(0, n), (side, side), (8, 8))
        elif kind == 'MSSA':
            x = x + mssa(h, sd, pre + '0.fn.', heads)
        else:
            x = x + tssa(h, sd, pre + '0.fn.', heads)
        x = ista(layer_norm(x, sd, pre + '1.norm'), sd[pre + '1.fn.weight'])
    return layer_norm(x, sd, 'mlp_head.0')


# ------------------------------------------------------------- decoders
def _masks(patches: Tensor, classes: Tensor, sd: SD, key: str, hw: Tuple[int, int]) -> Tensor:
    patches = patches / patches.norm(dim=-1, keepdim=True)
    classes = classes / classes.norm(dim=-1, keepdim=True)
    return layer_norm(patches @ classes.T, sd, key).T.reshape(-1, *hw)


def cbt_decoder(x: Tensor, sd: SD, hw: Tuple[int, int], heads: int = 3) -> Tensor:
    """The authors' CBT MaskTransformer: patch tokens (N, d) -> (n_cls, h, w)."""
    n = x.shape[0]
    z = torch.cat([x, sd['cls_emb'][0]])
    depth = 1 + max(int(k.split('.')[2]) for k in sd if k.startswith('net.layers.'))
    for i in range(depth):
        pre = f'net.layers.{i}.'
        z = z + cbsa(
            layer_norm(z, sd, pre + 'norm'), sd, pre + 'fn.', heads, slice(0, n), hw, (10, 10))
    z = layer_norm(z, sd, 'decoder_norm')
    return _masks(z[:n], z[n:], sd, 'mask_norm', hw)


def depict_decoder(x: Tensor, sd: SD, hw: Tuple[int, int], heads: int = 3) -> Tensor:
    """DEPICT-SA (``net.*``) or DEPICT-CA (``snet.*`` + ``cnet.*``)."""
    n = x.shape[0]

    def stack(z, name, query=None):
        depth = 1 + max(int(k.split('.')[2]) for k in sd if k.startswith(name + '.layers.'))
        for i in range(depth):
            pre = f'{name}.layers.{i}.'
            if query is None:
                z = z + tied_mssa(layer_norm(z, sd, pre + 'norm'), sd, pre + 'fn.', heads)
            else:
                query = query + tied_mssa(
                    layer_norm(z, sd, pre + 'norm'), sd, pre + 'fn.', heads, query=query)
        return z if query is None else query

    if 'net.layers.0.fn.proj' in sd:
        z = layer_norm(stack(torch.cat([x, sd['cls_emb'][0]]), 'net'), sd, 'decoder_norm')
        return _masks(z[:n], z[n:], sd, 'mask_norm', hw)
    patches = layer_norm(stack(x, 'snet'), sd, 'snorm')
    classes = layer_norm(stack(patches, 'cnet', query=sd['cls_emb'][0]), sd, 'cnorm')
    return _masks(patches, classes, sd, 'mask_norm', hw)
