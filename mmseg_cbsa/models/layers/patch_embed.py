"""Linear patch embedding (one strided convolution), in timm's layout."""
from typing import Tuple

import torch.nn.functional as F
from torch import Tensor, nn


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
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x)
        return x.flatten(2).transpose(1, 2), (x.shape[-2], x.shape[-1])
