"""The web demo's page logic without a browser (mmseg_cbsa/apps/web_demo.py):
what its panels offer for models with and without [CLS] tokens and CBSA
layers, how it reads uploads (as the command-line demos do, bad ones
refused by name), and what it keeps per session (bounded)."""
import cv2
import gradio  # noqa: F401  (a test requirement: missing fails)
import numpy as np
import pytest

from mmseg_cbsa.apps.demos import attention_model, read_image, record_attention
from mmseg_cbsa.apps.web_demo import (EXPECTED_IMAGE, NO_CLS, PICTURE_SIZE, AnalysisStore,
                                      ImageRejected, Limits, WebDemo, parse_args)


def _image(h=24, w=40):
    return np.random.RandomState(0).randint(0, 256, (h, w, 3)).astype(np.uint8)


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


@pytest.fixture(scope='module')
def demo(random_ckpt):
    return WebDemo(*random_ckpt['tiny_cbt'], limits=Limits(max_pixels=2_000_000, display_size=256))


def test_a_16bit_grey_png_is_read_and_segmented_as_the_command_line_demos_do(
        demo, random_ckpt, tmp_path):
    # values over the whole 16-bit range: Gradio's own reading (PIL, then
    # RGB) clipped every value above 255 to white
    grey = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    png = str(tmp_path / 'grey16.png')
    cv2.imwrite(png, grey)
    image = demo.read_upload(png, 'grey16.png')
    np.testing.assert_array_equal(image, read_image(png))
    np.testing.assert_array_equal(image, np.repeat((grey >> 8).astype(np.uint8)[..., None], 3, -1))
    analysis = demo.analyse(image)
    # the network input and prediction of demo/attention_demo.py's run on
    # the file (mmseg's inference_model, on a model of its own)
    cli_model = attention_model(*random_ckpt['tiny_cbt'], say=lambda _: None)
    rec, sample = record_attention(cli_model, read_image(png))
    np.testing.assert_array_equal(analysis.network_input, rec.input_images()[0])
    assert (analysis.network_input == 255).mean() < 0.01  # not clipped to white
    np.testing.assert_array_equal(analysis.label, sample.pred_sem_seg.data[0].numpy())


def test_bad_uploads_are_refused_by_name_with_what_was_expected(demo, tmp_path):
    empty = tmp_path / 'empty.png'
    empty.write_bytes(b'')
    text = tmp_path / 'notes.txt'
    text.write_text('not an image\n')
    truncated = tmp_path / 'cut.png'
    cv2.imwrite(str(truncated), _image(64, 64))
    truncated.write_bytes(truncated.read_bytes()[:40])
    for path, name, says in ((empty, 'photo.png', 'the file is empty (0 bytes)'),
                             (text, 'notes.txt', 'cannot be decoded as an image (13 bytes)'),
                             (truncated, 'cut.png', 'cannot be decoded as an image (40 bytes)')):
        with pytest.raises(ImageRejected) as e:
            demo.read_upload(str(path), name)
        assert str(e.value) == f'{name}: {says}; {EXPECTED_IMAGE}'
    # a file deleted from the cache while its analysis waited
    with pytest.raises(ImageRejected, match=r'^gone\.png: .*no longer on the server'):
        demo.read_upload(str(tmp_path / 'gone.png'), 'gone.png')


def test_an_image_over_the_pixel_limit_is_refused_before_it_is_decoded(demo, tmp_path, monkeypatch):
    big = str(tmp_path / 'big.png')
    cv2.imwrite(big, np.zeros((1000, 2001, 3), np.uint8))  # 2.001 megapixels
    import mmseg_cbsa.apps.web_demo as web_demo
    monkeypatch.setattr(web_demo, 'read_image', lambda path: pytest.fail('decoded'))
    message = ('big.png: the image is 2001x1000 = 2,001,000 pixels; this demo takes images '
               'of at most 2,000,000 pixels (its --max-pixels): scale it down and upload it '
               'again')
    with pytest.raises(ImageRejected) as e:
        demo.read_upload(big)
    assert str(e.value) == message
    # and an image given as an array
    with pytest.raises(ImageRejected, match=r'^big\.png: the image is 2001x1000 = '):
        demo.analyse(np.zeros((1000, 2001, 3), np.uint8), 'big.png')


def test_what_a_session_keeps_does_not_grow_with_the_image(demo):
    small = demo.analyse(_image(150, 200))
    large = demo.analyse(
        cv2.resize(_image(150, 200), (1600, 1200), interpolation=cv2.INTER_NEAREST))
    # shown, predicted and kept at the display size (256 px here); the old
    # analysis kept the upload, its int64 prediction and float logits at
    # its own size: 1600 x 1200 x (3 + 8 + 4 x 6 classes) = 67 MB
    assert large.image.shape == (192, 256, 3) and large.label.shape == (192, 256)
    assert large.label.dtype == np.uint8
    assert large.nbytes < 2 * small.nbytes + 256 * 256 * 4
    assert large.nbytes < 1_000_000
    picture = demo.segmentation(large)
    assert picture.shape[1] == 256 and demo.predicted_classes(large)
    # an image no larger than the display size is predicted at its own size
    assert small.label.shape == (150, 200)


def test_the_store_keeps_few_analyses_for_a_while():
    now = [0.0]
    store = AnalysisStore(max_sessions=2, ttl=10, clock=lambda: now[0])
    a, b, c = object(), object(), object()
    store.put('a', a)
    store.put('b', b)
    now[0] = 5
    assert store.get('a') is a  # used: 'b' is now the oldest
    store.put('c', c)
    assert len(store) == 2 and store.get('b') is None and store.get('a') is a
    now[0] = 14  # 'a' used at 5, 'c' put at 5: both expire after 15
    assert store.get('c') is c
    now[0] = 15.5
    assert store.get('a') is None and len(store) == 1  # 'a' expired, 'c' was used at 14
    store.drop('c')
    store.drop('c')
    store.drop(None)  # a session without analysis
    assert len(store) == 0
    with pytest.raises(ValueError):
        AnalysisStore(max_sessions=0, ttl=1)


def test_the_limits_are_command_line_options():
    args = parse_args([
        'cfg.py', 'ckpt.pth', '--max-pixels', '1000', '--max-file-size', '2mb', '--display-size',
        '512', '--max-sessions', '3', '--session-ttl', '30', '--concurrency', '2', '--cache-ttl',
        '60'
    ])
    assert args.limits == Limits(1000, '2mb', 512, 3, 30, 2, 60)
    assert args.limits.file_size_bytes == 2 * 1024 * 1024
    assert parse_args(['cfg.py', 'ckpt.pth']).limits == Limits()
    assert Limits(max_file_size='1048576').file_size_bytes == 1048576


@pytest.mark.parametrize('option, value, says', [
    ('--max-file-size', '2xb', "--max-file-size 2xb: expected a positive number of bytes, or "
     "one with a unit: '500kb', '20mb', '1gb'"),
    ('--concurrency', '0', '--concurrency 0: expected a positive number'),
    ('--session-ttl', '-5', '--session-ttl -5.0: expected a positive number'),
])
def test_a_bad_limit_is_refused_with_what_was_expected(option, value, says, capsys):
    with pytest.raises(SystemExit):
        parse_args(['cfg.py', 'ckpt.pth', option, value])
    assert says in capsys.readouterr().err


def test_a_classifier_whose_dataset_names_other_classes_lists_numbers(random_classifier):
    import torch
    demo = WebDemo(*random_classifier('tests/data/configs/tiny_cbt_classifier.py'))
    analysis = demo.analyse(_image(48, 64))
    # its head scores 10 classes, its config's test dataset (ImageNet) names 1000
    _, sample = record_attention(demo.model, _image(48, 64))
    top = torch.topk(sample.pred_score, 5)
    assert [c for c, _ in analysis.top_classes] == top.indices.tolist()
    summary = demo.prediction.summary(analysis)
    assert summary.splitlines()[0].endswith(
        '(class numbers: the test dataset (ImageNet) names 1000 classes, the head scores 10)')
    assert [line.split(' (')[0] for line in summary.splitlines()[2:]
            ] == [f'{rank}. class {c}' for rank, c in enumerate(top.indices.tolist(), 1)]


def test_what_a_classifier_session_keeps_does_not_grow_with_the_image(random_classifier):
    demo = WebDemo(*random_classifier('tests/data/configs/tiny_cbt_classifier.py'))
    small = demo.analyse(_image(150, 200))
    large = demo.analyse(
        cv2.resize(_image(150, 200), (1600, 1200), interpolation=cv2.INTER_NEAREST))
    # nothing is drawn over the upload: only the network input and the maps are kept
    assert large.image is None and large.label is None
    assert large.network_input.shape == (32, 32, 3) and large.nbytes == small.nbytes
