"""The web demo served on 127.0.0.1 and called over HTTP as the page calls it
(gradio_client): bad uploads are answered with a message naming the file,
16-bit grey images are read as the command-line demos read them, sessions'
analyses are dropped when unused or closed, and the upload cache is cleaned.

The page runs in this process (``web_demo_browser.serve_here``), so that the
tests can look into what it keeps (``WebDemo.store``) and into its cache.
"""
import os
import threading
import time

import cv2
import numpy as np
import pytest

from mmseg_cbsa.apps import web_demo_browser as browser
from mmseg_cbsa.apps.web_demo import EXPECTED_IMAGE, Limits, WebDemo
from mmseg_cbsa.utils.images import read_image

pytestmark = pytest.mark.slow

LIMITS = Limits(max_pixels=1_000_000, max_file_size='1mb', session_ttl=4, cache_ttl=2)


@pytest.fixture(scope='module')
def server(random_ckpt, tmp_path_factory):
    """The demo on the random tiny model with small limits, and its cache folder."""
    cache = tmp_path_factory.mktemp('web_demo_cache')
    demo = WebDemo(*random_ckpt['tiny_cbt'], limits=LIMITS)
    with browser.serve_here(demo, str(cache)) as url:
        yield dict(url=url, demo=demo, cache=cache)


def client(server):
    """A new session, as a new browser tab is (its own session id and heartbeat)."""
    from gradio_client import Client
    return Client(server['url'], verbose=False, download_files=False)


def upload(session, path):
    """What the page shows for an upload (the state left out): (segmentation, classes, ...)."""
    from gradio_client import handle_file
    return session.predict(handle_file(str(path)), api_name='/run')


def picture(output) -> np.ndarray:
    """An output picture of the page as (H, W, 3) RGB (the server's file)."""
    return cv2.imread(output['path'] if isinstance(output, dict) else output)[..., ::-1]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            pytest.fail(f'{what} did not happen within {timeout} s')
        time.sleep(0.25)


def test_bad_uploads_are_answered_with_what_was_wrong(server, tmp_path):
    from gradio_client.exceptions import AppError
    (tmp_path / 'empty.png').write_bytes(b'')
    (tmp_path / 'notes.txt').write_text('not an image\n')
    cv2.imwrite(str(tmp_path / 'wide.png'), np.zeros((500, 2001, 3), np.uint8))
    expected = {
        'empty.png':
        f'empty.png: the file is empty (0 bytes); {EXPECTED_IMAGE}',
        'notes.txt':
        f'notes.txt: cannot be decoded as an image (13 bytes); {EXPECTED_IMAGE}',
        'wide.png': ('wide.png: the image is 2001x500 = 1,000,500 pixels; this demo takes '
                     'images of at most 1,000,000 pixels (its --max-pixels): scale it down and '
                     'upload it again'),
    }
    session = client(server)
    try:
        for name, message in expected.items():
            # Gradio's own answer was 'The upstream Gradio app has raised an exception'
            with pytest.raises(AppError) as e:
                upload(session, tmp_path / name)
            assert str(e.value) == message
    finally:
        session.close()


def test_an_upload_over_the_byte_limit_is_refused_by_gradio(server, tmp_path):
    import httpx
    big = tmp_path / 'big.bin'
    big.write_bytes(b'\0' * (1024 * 1024 + 1))
    with open(big, 'rb') as f:
        res = httpx.post(server['url'] + 'gradio_api/upload', files={'files': f})
    assert res.status_code == 413
    assert 'maximum allowed size of 1048576 bytes' in res.text


def test_a_16bit_grey_png_is_read_as_the_command_line_demos_read_it(server, tmp_path):
    grey = np.linspace(0, 65535, 48 * 64).reshape(48, 64).astype(np.uint16)
    png = tmp_path / 'grey16.png'
    cv2.imwrite(str(png), grey)
    demo = server['demo']
    # drawn here from the file as demo/image_demo.py reads it (read_image);
    # Gradio's reading (PIL, then RGB) made it white above 255 of 65535
    expected = demo.segmentation(demo.analyse(read_image(str(png))))
    session = client(server)
    try:
        shown = picture(upload(session, png)[0])
    finally:
        session.close()
    np.testing.assert_array_equal(shown, expected)


def test_an_unused_session_is_dropped_and_says_so(server, small_png):
    demo = server['demo']
    session = client(server)
    try:
        upload(session, small_png)
        key = session.session_hash
        assert key in demo.store
        assert session.predict(0, 1, api_name='/show_cls') is not None  # a picture
        # unused for session_ttl s: the state expires and takes the analysis with it
        wait_for(lambda: key not in demo.store, LIMITS.session_ttl + 5, 'expiry')
        # the page is told (a warning) and the picture stays as it was
        assert session.predict(0, 0, api_name='/show_cls') in (None, {'__type__': 'update'})
    finally:
        session.close()


def test_a_closed_session_is_forgotten_at_once(server, small_png):
    demo = server['demo']
    session = client(server)
    upload(session, small_png)
    key = session.session_hash
    assert key in demo.store
    session.close()  # the tab is closed: its heartbeat ends
    # well before session_ttl (Gradio alone would keep it for an hour)
    wait_for(lambda: key not in demo.store, LIMITS.session_ttl - 1, 'drop on close')


def test_the_upload_cache_is_cleaned(server, tmp_path):
    png = tmp_path / 'to_be_deleted.png'
    cv2.imwrite(str(png), np.full((16, 16, 3), 7, np.uint8))

    def cached():
        return [f for _, _, files in os.walk(server['cache']) for f in files if f == png.name]

    # on a loaded machine the upload can take longer than cache_ttl, so the
    # sweep may remove the file before the upload returns: watch for it from
    # the start instead of looking once afterwards
    seen, done = threading.Event(), threading.Event()

    def watch():
        while not done.is_set():
            if cached():
                seen.set()
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    session = client(server)
    try:
        upload(session, png)
    finally:
        session.close()
    seen.wait(2)
    done.set()
    watcher.join()
    assert seen.is_set(), 'the upload never reached the cache'
    # deleted cache_ttl s after it came, by a sweep every cache_ttl s
    wait_for(lambda: not cached(), 2 * LIMITS.cache_ttl + 5, 'cache cleanup')


def elem_ids(url) -> dict:
    """{elem_id: its value} of the page's components that have an id."""
    import httpx
    components = httpx.get(url + 'config').json()['components']
    return {
        c['props']['elem_id']: c['props'].get('value')
        for c in components if c['props'].get('elem_id')
    }


def test_a_segmentor_page_has_its_segmentation_panel(server):
    ids = elem_ids(server['url'])
    assert 'segmentation' in ids and 'no-segmentation' not in ids


# Models that are no segmentor (their page was refused: the demo crashed
# on a model without mmseg's postprocess_result and dataset_meta): the shipped
# CBT-S ImageNet classifier, and the zero-shot [CLS] probe (a tiny
# configs/zero_shot one) on a classifier's checkpoint, the layout of a
# converted authors' checkpoint; random weights, default limits (the
# session kept while the test computes what it expects).
CLASSIFIER = 'configs/classification/cbt-s_8xb32-lion-150e_in1k.py'
PROBE = ('tests/data/configs/tiny_cbt_zero_shot.py', 'tests/data/configs/tiny_cbt_classifier.py')


@pytest.fixture(scope='module')
def classifier_server(random_classifier, tmp_path_factory):
    demo = WebDemo(*random_classifier(CLASSIFIER))
    with browser.serve_here(demo, str(tmp_path_factory.mktemp('web_demo_cache'))) as url:
        yield dict(url=url, demo=demo)


@pytest.fixture(scope='module')
def probe_server(random_classifier, repo_root, tmp_path_factory):
    demo = WebDemo(f'{repo_root}/{PROBE[0]}', random_classifier(PROBE[1])[1])
    with browser.serve_here(demo, str(tmp_path_factory.mktemp('web_demo_cache'))) as url:
        yield dict(url=url, demo=demo)


def shown_now(outputs) -> list:
    """The page's outputs, its pictures as (H, W, 3) RGB arrays."""
    return [picture(o) if isinstance(o, dict) and 'path' in o else o for o in outputs]


def listed_classes(markdown: str) -> list:
    """[(name, score)] of the page's numbered list of classes, in order."""
    import re
    return [(name, float(score))
            for name, score in re.findall(r'^\d+\. (.*) \(([^()]+)\)$', markdown, re.M)]


def test_a_classifier_page_serves_its_top_classes_and_cls_maps_and_no_segmentation(
        classifier_server, small_png):
    import torch
    from mmpretrain.datasets import ImageNet

    from mmseg_cbsa.apps.demos import record_attention
    demo = classifier_server['demo']
    ids = elem_ids(classifier_server['url'])
    assert 'segmentation' not in ids
    assert ids['no-segmentation'].startswith(
        '**No segmentation:** ImageClassifier is an image classifier')
    session = client(classifier_server)
    try:
        classes, block, head, cls_note, cls_image, layer, _, _, rep_note, rep_image = \
            shown_now(upload(session, small_png))
        other_cls = picture(session.predict(11, 5, api_name='/show_cls'))
    finally:
        session.close()
    # the top 5 of the model's scores, named by ImageNet's classes
    _, sample = record_attention(demo.model, read_image(str(small_png)))
    top = torch.topk(sample.pred_score, 5)
    names = [ImageNet.METAINFO['classes'][i] for i in top.indices.tolist()]
    listed = listed_classes(classes)
    assert [name for name, _ in listed] == names
    np.testing.assert_allclose([score for _, score in listed], top.values.numpy(), rtol=5e-3)
    # the [CLS] maps of each of the 12 blocks and 6 heads, drawn over the network input
    assert [c[1] for c in block['choices']] == list(range(12))
    assert [c[1] for c in head['choices']] == list(range(6)) and cls_note == ''
    analysis = demo.analyse(read_image(str(small_png)))
    np.testing.assert_array_equal(cls_image, demo.cls_picture(analysis, 0, 0))
    np.testing.assert_array_equal(other_cls, demo.cls_picture(analysis, 11, 5))
    # and the CBSA representatives of its 12 CBSA blocks
    assert [c[0] for c in layer['choices']] == [f'backbone layer {i}' for i in range(12)]
    assert rep_note == ''
    np.testing.assert_array_equal(rep_image, demo.representative_picture(analysis, 0, 0, 0))


def test_the_probe_page_serves_cls_maps_and_says_it_predicts_nothing(probe_server, small_png):
    demo = probe_server['demo']
    ids = elem_ids(probe_server['url'])
    assert 'segmentation' not in ids
    assert ids['no-segmentation'].startswith('**No segmentation, no classes:** CLSAttentionProbe')
    session = client(probe_server)
    try:
        classes, block, head, cls_note, cls_image, *_, rep_image = \
            shown_now(upload(session, small_png))
    finally:
        session.close()
    assert classes == '' and cls_note == ''
    assert [c[1] for c in block['choices']] == [0] and [c[1] for c in head['choices']] == [0, 1]
    analysis = demo.analyse(read_image(str(small_png)))
    np.testing.assert_array_equal(cls_image, demo.cls_picture(analysis, 0, 0))
    np.testing.assert_array_equal(rep_image, demo.representative_picture(analysis, 0, 0, 0))


@pytest.fixture
def small_png(tmp_path):
    path = tmp_path / 'small.png'
    cv2.imwrite(str(path), np.random.RandomState(0).randint(0, 256, (40, 56, 3), np.uint8))
    return path
