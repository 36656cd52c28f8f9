"""The key renaming and refusal every converter shares
(mmseg_cbsa/converters/mapping.py), and the package's public names."""
import pytest
import torch

import mmseg_cbsa.analysis
import mmseg_cbsa.converters
from mmseg_cbsa.converters import KeyMapper, refuse_unmatched


def test_first_matching_rule_renames_and_the_rest_is_listed():
    mapper = KeyMapper([(r'a\.(\d+)\.w', r'b.\1.weight'), (r'a\..*', r'never')])
    t = torch.zeros(1)
    out, left = mapper({'a.3.w': t, 'a.x': t, 'c': t, 'a.3.wx': t})
    assert list(out) == ['b.3.weight', 'never']
    assert left == ['c']  # 'a.3.wx' fully matches the second rule


def test_refusal_names_source_layout_and_keys():
    refuse_unmatched('x.pth', 'a ViT', [])  # nothing left: nothing to refuse
    with pytest.raises(KeyError, match=r"x.pth: unexpected keys for a ViT: \['k0', 'k1'"):
        refuse_unmatched('x.pth', 'a ViT', [f'k{i}' for i in range(13)])


@pytest.mark.parametrize('package, names', [
    (mmseg_cbsa.converters, ['convert_vit_to_cbsa', 'KeyMapper']),
    (mmseg_cbsa.analysis, [
        'ExtractionRankRecorder', 'summarize_ranks', 'measure_rep_rank',
        'SubspaceReductionRecorder', 'summarize_subspaces', 'subspace_correlation',
        'ExtractionListener', 'LayerRecord'
    ]),
])
def test_public_names_are_exported(package, names):
    assert set(names) <= set(package.__all__)
    assert all(callable(getattr(package, n)) for n in package.__all__ if n != 'ADAPTATIONS')
