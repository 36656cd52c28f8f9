"""Agent attention as the CBSA family member without contraction."""
from mmseg.registry import MODELS
from torch import Tensor

from .cbsa import CBSA


@MODELS.register_module()
class AgentAttention(CBSA):
    r"""CBSA with the contraction step removed (Agent Attention, Han et al. 2024,
    in the unified formula of paper section 3.3): the extracted
    representatives are broadcast as they are, ``ΔW = b_k A^T Q``. Same
    parameters and cost class as :class:`CBSA`, O(N m p) per head.
    """

    def num_similarities(self, num_queries: int, num_tokens: int) -> int:
        """m*N per head: extraction only."""
        return self.num_heads * self.num_representatives * num_tokens

    def contract(self, q: Tensor) -> Tensor:
        return q
