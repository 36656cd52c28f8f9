"""Linear patch embedding (one strided convolution), in timm's layout."""
from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn

from ..tracing import is_exporting


class PatchEmbed(nn.Module):
    """Non-overlapping ``patch_size`` patches to tokens via ``proj`` (a conv).

    The input is zero-padded at the bottom/right to a multiple of the patch
    size, so any image size is accepted.

    Returns:
        (B, h*w, d) tokens and the patch grid (h, w).
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        ps = self.patch_size
        pad_h, pad_w = -x.shape[-2] % ps, -x.shape[-1] % ps
        if pad_h or pad_w or is_exporting():
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), (x.shape[-2], x.shape[-1])


class LinearPatchEmbed(nn.Module):
    """CRATE's patch embedding: ``LN(proj(LN(patch)))`` on flattened patches.

    Pixels are flattened in (row, column, channel) order within a patch, as
    in the authors' ``Rearrange('b c (h p1) (w p2) -> b (h w) (p1 p2 c)')``.
    """

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        patch_dims = in_channels * patch_size**2
        self.norm_in = nn.LayerNorm(patch_dims)
        self.proj = nn.Linear(patch_dims, embed_dims)
        self.norm_out = nn.LayerNorm(embed_dims)

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        ps = self.patch_size
        pad_h, pad_w = -x.shape[-2] % ps, -x.shape[-1] % ps
        if pad_h or pad_w or is_exporting():
            x = F.pad(x, (0, pad_w, 0, pad_h))
        b, c, hh, ww = x.shape
        h, w = hh // ps, ww // ps
        x = x.view(b, c, h, ps, w, ps).permute(0, 2, 4, 3, 5, 1).reshape(b, h * w, ps * ps * c)
        return self.norm_out(self.proj(self.norm_in(x))), (h, w)


class ConvPatchEmbed(nn.Module):
    """The CBT classifiers' convolutional stem.

    ``log2(patch_size)`` stride-2 3x3 convolutions with BatchNorm and GELU in
    between (none after the last); widths d/8, d/4, d/2, d for patch 16 and
    d/4, d/2, d for patch 8.
    """

    def __init__(self,
                 in_channels: int,
                 embed_dims: int,
                 patch_size: int = 16,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        from mmcv.cnn import ConvModule
        if patch_size not in (8, 16):
            raise ValueError(f'ConvPatchEmbed supports patch size 8 or 16, got {patch_size}')
        steps = {8: 3, 16: 4}[patch_size]
        widths = [embed_dims // 2**(steps - 1 - i) for i in range(steps)]
        chans = [in_channels] + widths
        self.patch_size = patch_size
        self.convs = nn.Sequential(*(ConvModule(
            chans[i],
            chans[i + 1],
            3,
            stride=2,
            padding=1,
            bias=False,
            norm_cfg=norm_cfg,
            act_cfg=dict(type='GELU') if i < steps - 1 else None) for i in range(steps)))

    def forward(self, x: Tensor) -> Tuple[Tensor, Tuple[int, int]]:
        x = self.convs(x)
        return x.flatten(2).transpose(1, 2), (x.shape[-2], x.shape[-1])
