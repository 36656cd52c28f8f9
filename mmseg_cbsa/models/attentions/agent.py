"""Agent attention as the CBSA family member without contraction."""
from typing import Optional, Sequence

from torch import Tensor

from ...registry import MODELS
from .cbsa import CBSA


@MODELS.register_module()
class AgentAttention(CBSA):
    r"""CBSA with the contraction step removed (Agent Attention, Han et al. 2024,
    in the unified formula of paper section 3.3): the extracted
    representatives are broadcast as they are, ``ΔW = b_k A^T Q``. Same
    parameters and cost class as :class:`CBSA`, O(N m p) per head; the same
    representatives, adapted to small patch grids in the same way.
    """

    def num_similarities(self,
                         num_queries: int,
                         num_tokens: int,
                         hw_shape: Optional[Sequence[int]] = None) -> int:
        """m*N per head: extraction only (m as in :meth:`CBSA.num_similarities`)."""
        return self.num_heads * self._num_representatives_for(hw_shape) * num_tokens

    def contract(self, q: Tensor) -> Tensor:
        return q
