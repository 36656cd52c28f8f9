"""The ISTA block of CRATE: one proximal-gradient step towards sparse codes."""
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...registry import MODELS


@MODELS.register_module()
class ISTA(nn.Module):
    r"""``ISTA(x) = relu(x + η (x D − x D^T D) − η λ)`` with a learnable
    dictionary ``D`` (d x d, kaiming-uniform), η = λ = 0.1.

    One step of ISTA for the sparse coding of ``x`` against ``D`` (CRATE's
    replacement of the MLP); it is itself an update, so blocks apply it
    without a residual. (B, N, d) -> (B, N, d).
    """

    def __init__(self, embed_dims: int, step_size: float = 0.1, lambd: float = 0.1) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(embed_dims, embed_dims))
        nn.init.kaiming_uniform_(self.weight)
        self.step_size = step_size
        self.lambd = lambd

    def forward(self, x: Tensor) -> Tensor:
        d = self.weight
        grad = x @ d - (x @ d.t()) @ d
        return F.relu(x + self.step_size * grad - self.step_size * self.lambd)

    def extra_repr(self) -> str:
        return f'step_size={self.step_size}, lambd={self.lambd}'
