"""Position-wise feed-forward network in timm's layout (``fc1``, ``fc2``)."""
from torch import Tensor, nn

from ...registry import MODELS


@MODELS.register_module()
class Mlp(nn.Module):
    """``fc2(GELU(fc1(x)))``: (B, N, d) -> (B, N, d), hidden width ``ratio * d``."""

    def __init__(self, embed_dims: int, ratio: float = 4.0) -> None:
        super().__init__()
        hidden = int(embed_dims * ratio)
        self.fc1 = nn.Linear(embed_dims, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, embed_dims)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))
