"""demo/web_demo.py end to end in a real browser: the demo serves the tiny
trained model, headless Chromium (driven by selenium) uploads an image, and
the pictures the page shows are read back and compared with the ones
mmseg_cbsa.apps.web_demo draws in this process. Every request the page
makes goes to the demo's own address: nothing is fetched from outside. A
file that is not an image is answered on the page with a message naming it.

With MMSEG_CBSA_WEB_DEMO_SCREENSHOT=PATH the page is also saved as a PNG
(demo/web_demo_screenshot.py makes docs/images/web_demo.png with a real model).
"""
import importlib.util
import os

import cv2
import numpy as np
import pytest

from mmseg_cbsa.apps import web_demo_browser as page

pytestmark = pytest.mark.slow

#: what a missing browser or client says: the test install provides them
INSTALL_HINT = 'run `bash tools/install.sh --tests`, which installs them'


def missing_requirements():
    """What this test needs and does not find: the Python packages gradio and
    selenium, and chromium / chromedriver on PATH."""
    missing = [m for m in ('gradio', 'selenium') if importlib.util.find_spec(m) is None]
    chromium, driver = page.browser_paths()
    missing += [
        name for name, path in (('chromium', chromium), ('chromedriver', driver)) if path is None
    ]
    return missing


@pytest.fixture(scope='session', autouse=True)
def browser_installed():
    """Fail (not skip) before anything else runs when the browser is missing:
    the project's test install puts it there."""
    missing = missing_requirements()
    if missing:
        pytest.fail(
            f'the web demo browser test needs {", ".join(missing)}: {INSTALL_HINT}', pytrace=False)


@pytest.fixture(scope='module')
def server(tiny_cbt_trained, repo_root, tmp_path_factory):
    """The demo on the tiny trained model, on a free local port."""
    tmp = tmp_path_factory.mktemp('web_demo')
    with page.serve(
            tiny_cbt_trained['config'],
            str(tiny_cbt_trained['checkpoint']),
            str(tmp / 'server.log'),
            cwd=repo_root,
            env={'GRADIO_TEMP_DIR': str(tmp / 'gradio')}) as url:
        yield url


@pytest.fixture(scope='module')
def expected(tiny_cbt_trained, tmp_path_factory):
    """The first validation image enlarged 4x (128 x 128) as a PNG (which
    the browser's upload and cv2 decode alike), and the demo's pictures of
    it drawn in this process."""
    from mmseg_cbsa.apps.web_demo import WebDemo
    src = sorted((tiny_cbt_trained['data'] / 'images' / 'validation').iterdir())[0]
    png = tmp_path_factory.mktemp('web_demo_input') / 'input.png'
    cv2.imwrite(
        str(png),
        cv2.resize(cv2.imread(str(src)), None, fx=4, fy=4, interpolation=cv2.INTER_NEAREST))
    # 'auto': the precision demo/web_demo.py runs in by default, on this machine
    demo = WebDemo(
        tiny_cbt_trained['config'], str(tiny_cbt_trained['checkpoint']), precision='auto')
    analysis = demo.analyse(cv2.imread(str(png))[..., ::-1])
    return dict(png=png, demo=demo, analysis=analysis)


def test_upload_segment_and_read_back_the_pictures(server, expected):
    from selenium.webdriver.common.by import By
    demo, analysis = expected['demo'], expected['analysis']
    with page.chromium() as browser:
        page.upload(browser, server, str(expected['png']))

        segmentation, _ = page.shown(browser, 'segmentation')
        np.testing.assert_array_equal(segmentation, demo.segmentation(analysis))
        names = demo.predicted_classes(analysis)
        assert names and browser.find_element(By.ID, 'classes').text == \
            'predicted: ' + ', '.join(names)

        cls_picture, _ = page.shown(browser, 'cls-picture')
        np.testing.assert_array_equal(cls_picture, demo.cls_picture(analysis, 0, 0))
        rep_picture, rep_src = page.shown(browser, 'rep-picture')
        np.testing.assert_array_equal(rep_picture, demo.representative_picture(analysis, 0, 0, 0))

        # choose representative 3 (of the head's 2x2): its own map is shown
        page.choose_representative(browser, 3)
        rep_picture, _ = page.shown(browser, 'rep-picture', old_src=rep_src)
        np.testing.assert_array_equal(rep_picture, demo.representative_picture(analysis, 0, 0, 3))

        path = os.environ.get('MMSEG_CBSA_WEB_DEMO_SCREENSHOT')
        if path:
            browser.save_screenshot(path)

        # offline: the page and everything it loaded came from the demo itself
        urls = page.requested_urls(browser)
    assert any(u.startswith(server + 'assets/') for u in urls)
    outside = [u for u in urls if not u.startswith((server, 'data:', 'blob:'))]
    assert not outside, outside


def test_a_bad_upload_is_answered_on_the_page(server, tmp_path):
    from mmseg_cbsa.apps.web_demo import EXPECTED_IMAGE
    broken = tmp_path / 'broken.png'
    broken.write_bytes(b'not a PNG\n')
    with page.chromium() as browser:
        page.upload(browser, server, str(broken))
        shown = page.messages(browser)
    # the old page marked its panels 'Error' and said nothing of the file
    assert any(f'broken.png: cannot be decoded as an image (10 bytes); {EXPECTED_IMAGE}' in m
               for m in shown), shown
