"""The web demo's page logic without a browser (mmseg_cbsa/apps/web_demo.py):
what its panels offer for models with and without [CLS] tokens and CBSA layers."""
import gradio  # noqa: F401  (a test requirement: missing fails)
import numpy as np
import pytest

from mmseg_cbsa.apps.web_demo import NO_CLS, PICTURE_SIZE, WebDemo


@pytest.fixture(scope='module')
def random_ckpt(tmp_path_factory, repo_root):
    """Random-weight checkpoints of a ViT + CBT head and a MiT (no [CLS]) + CBT head."""
    from mmseg.apis import init_model

    from mmseg_cbsa.utils import save_checkpoint_file
    tmp = tmp_path_factory.mktemp('web_demo_page')
    out = {}
    for name in ('tiny_cbt', 'tiny_cbt_nocls'):
        config = f'{repo_root}/tests/data/configs/{name}.py'
        model = init_model(config, None, device='cpu')
        out[name] = (config, str(tmp / f'{name}.pth'))
        save_checkpoint_file(model.state_dict(), out[name][1], meta={})
    return out


def _image():
    return np.random.RandomState(0).randint(0, 256, (24, 40, 3)).astype(np.uint8)


def test_widgets_follow_the_model(random_ckpt):
    demo = WebDemo(*random_ckpt['tiny_cbt'])
    analysis = demo.analyse(_image())
    block, head, note, picture = demo._cls_widgets(analysis)
    assert block['choices'] == [('0', 0)] and head['choices'] == [('0', 0), ('1', 1)]
    assert note == '' and picture.shape == demo.cls_picture(analysis, 0, 0).shape
    layer, head, rep, note, picture = demo._rep_widgets(analysis)
    assert layer['choices'] == [('decode_head layer 0', 0)]
    assert rep['maximum'] == 3  # 2x2 representatives
    np.testing.assert_array_equal(picture, demo.representative_picture(analysis, 0, 0, 0))
    # the segmentation is enlarged by a whole factor to at least the picture size
    seg = demo.segmentation(analysis)
    f = PICTURE_SIZE // 40
    assert seg.shape[0] > 24 * f and seg.shape[1] >= 40 * f


def test_an_encoder_without_cls_says_so(random_ckpt):
    demo = WebDemo(*random_ckpt['tiny_cbt_nocls'])
    analysis = demo.analyse(_image())
    assert analysis.cls_maps is None and analysis.extractions
    block, head, note, picture = demo._cls_widgets(analysis)
    assert note == NO_CLS and picture is None and block['choices'] == []
