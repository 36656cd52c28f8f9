"""Rough edges a user meets on the first day: a mistyped config path, the
benchmark's token count for a model whose patches are not 16 pixels.

Before: ``tools/train.py`` with a mistyped config stopped with a traceback;
the benchmark counted ``(size // 16)^2`` tokens whatever the patch size (4
for tiny_cbt's 8-pixel patches at 32 px, which has 16).
"""
import pytest

from mmseg_cbsa.apps.benchmark import build_case
from tests.cli import run_python

TINY = 'tests/data/configs/tiny_cbt.py'  # 8-pixel patches


@pytest.mark.parametrize('part', ['backbone', 'head', 'model'])
def test_benchmark_counts_the_models_own_patches(part, cbsa_scope):
    _, inputs, tokens = build_case(dict(kind='config', config=TINY, size=36, part=part))
    assert tokens == 5 * 5  # ceil(36 / 8): a partial patch is a token
    if part == 'head':  # the encoder features the head is timed on
        assert inputs[0].shape[-2:] == (5, 5)


def test_layer_cases_take_a_patch_size(cbsa_scope):
    layer = dict(type='CBSA', embed_dims=16, num_heads=2, head_dims=8, rep_grid=2)
    for patch, tokens in ((16, 4), (8, 16)):
        _, (x, ), n = build_case(dict(kind='layer', layer=layer, size=32, patch_size=patch))
        assert n == tokens and x.shape[1] == tokens


@pytest.mark.slow
@pytest.mark.parametrize('tool', ['tools/train.py', 'tools/test.py'])
def test_a_mistyped_config_is_named_with_the_close_ones(tool, repo_root):
    args = ['x.pth'] if tool.endswith('test.py') else []
    res = run_python(
        repo_root, tool, 'configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x51.py', *args, check=False)
    assert res.returncode == 2 and 'Traceback' not in res.stderr
    assert ('config file not found: configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x51.py; did you '
            'mean configs/cbt/cbt_vit-s16_8xb1-160k_ade20k-512x512.py') in res.stderr
