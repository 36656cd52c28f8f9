"""CBSA's options in ``attn_cfg`` reach the CBSA layers of ``CBT`` (every
block) and ``CRATECBT`` (its second half); the old keywords beside
``attn_cfg`` are refused, naming it."""
import pytest

from mmseg_cbsa.models.backbones.white_box import CBT, CRATECBT


@pytest.mark.parametrize('cls, cbsa_blocks', [(CBT, [0, 1, 2, 3]), (CRATECBT, [2, 3])])
def test_learned_representatives_in_the_cbsa_blocks(cls, cbsa_blocks):
    model = cls(
        arch=(16, 4, 2),
        img_size=32,
        patch_size=8,
        attn_cfg=dict(type='CBSA', rep_grid=3, rep_init='learned'))
    for i, block in enumerate(model.blocks):
        if i in cbsa_blocks:
            assert (block.attn.rep_init, block.attn.rep_grid) == ('learned', (3, 3))
            assert block.attn.representatives.shape == (2, 9, 8)
        else:
            assert type(block.attn).__name__ == 'MSSA'


@pytest.mark.parametrize('cls', [CBT, CRATECBT])
@pytest.mark.parametrize(
    'moved', [dict(rep_grid=3), dict(detach_init=True),
              dict(rep_init='learned')])
def test_attention_options_beside_attn_cfg_are_refused(cls, moved):
    (key, value), = moved.items()
    with pytest.raises(
            TypeError,
            match=rf"{cls.__name__} takes no {key}: .* moved into attn_cfg, "
            rf"e.g. {cls.__name__}\(attn_cfg=dict\(type='CBSA', {key}={value!r}\)\)"):
        cls(arch=(16, 4, 2), img_size=32, patch_size=8, **moved)


def test_default_cbsa_keeps_cbsas_defaults():
    for cls, cbsa_blocks in ((CBT, [0, 1, 2, 3]), (CRATECBT, [2, 3])):
        model = cls(arch=(16, 4, 2), img_size=32, patch_size=8)
        for i in cbsa_blocks:
            attn = model.blocks[i].attn
            assert (type(attn).__name__, attn.rep_grid, attn.detach_init,
                    attn.rep_init) == ('CBSA', (8, 8), False, 'pool')
