"""``CBT(rep_init=...)`` and ``CRATECBT(rep_init=...)`` reach their default
CBSA layers with the encoder's ``rep_grid``."""
import pytest

from mmseg_cbsa.models.backbones.white_box import CBT, CRATECBT


@pytest.mark.parametrize('cls, cbsa_blocks', [(CBT, [0, 1, 2, 3]), (CRATECBT, [2, 3])])
def test_learned_representatives_in_the_cbsa_blocks(cls, cbsa_blocks):
    model = cls(arch=(16, 4, 2), img_size=32, patch_size=8, rep_grid=3, rep_init='learned')
    for i, block in enumerate(model.blocks):
        if i in cbsa_blocks:
            assert (block.attn.rep_init, block.attn.rep_grid) == ('learned', (3, 3))
            assert block.attn.representatives.shape == (2, 9, 8)
        else:
            assert type(block.attn).__name__ == 'MSSA'
