"""What the argmax agreement compares, per kind of model
(mmseg_cbsa/analysis/precision.py); the tool end to end is in
tests/test_precision/test_bf16_tools.py and
tests/test_tools/test_analysis_tools_model_kinds.py."""
import os

import pytest

from mmseg_cbsa.analysis.applicability import NotApplicable
from mmseg_cbsa.analysis.precision import prediction_of
from mmseg_cbsa.apis import build_model


@pytest.mark.parametrize('config, unit, label, diff_key', [
    ('tiny_cbt', 'pixels', 'pred_sem_seg', 'max_abs_logit_diff'),
    ('tiny_cbt_classifier', 'images', 'pred_label', 'max_abs_score_diff'),
])
def test_segmentors_per_pixel_classifiers_per_image(config, unit, label, diff_key, repo_root):
    model = build_model(
        os.path.join(repo_root, 'tests/data/configs', f'{config}.py'), init_weights=False).model
    kind = prediction_of(model)
    assert (kind.unit, kind.label, kind.diff_key) == (unit, label, diff_key)


def test_the_probe_predicts_no_class(repo_root):
    model = build_model(
        os.path.join(repo_root, 'tests/data/configs/tiny_cbt_zero_shot.py'),
        init_weights=False).model
    with pytest.raises(NotApplicable, match='^CLSAttentionProbe predicts no class'):
        prediction_of(model)
