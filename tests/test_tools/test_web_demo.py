"""demo/web_demo.py end to end in a real browser: the demo serves the tiny
trained model, headless Chromium (driven by selenium) uploads an image, and
the pictures the page shows are read back and compared with the ones
mmseg_cbsa.analysis.web_demo draws in this process. Every request the page
makes goes to the demo's own address: nothing is fetched from outside.

With MMSEG_CBSA_WEB_DEMO_SCREENSHOT=PATH the page is also saved as a PNG
(docs/images/web_demo.png is made so).
"""
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import cv2
import numpy as np
import pytest

pytest.importorskip('gradio')
pytest.importorskip('selenium')
CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason='needs chromium and chromium-driver (bash tools/install.sh --tests installs them)')

START_TIMEOUT = 240          # s: the server imports torch, mmseg and gradio on 2 cores
RESULT_TIMEOUT = 120         # s: one forward pass and the pictures


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@pytest.fixture(scope='module')
def server(tiny_cbt_trained, repo_root, tmp_path_factory):
    """demo/web_demo.py on the tiny trained model, on a free local port."""
    port = _free_port()
    log = tmp_path_factory.mktemp('web_demo') / 'server.log'
    with open(log, 'w') as out:
        proc = subprocess.Popen(
            [sys.executable, 'demo/web_demo.py', tiny_cbt_trained['config'],
             str(tiny_cbt_trained['checkpoint']), '--port', str(port)],
            cwd=repo_root, stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, 'GRADIO_TEMP_DIR': str(log.parent / 'gradio')})
    url = f'http://127.0.0.1:{port}/'
    deadline = time.time() + START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f'the demo exited ({proc.returncode}):\n{log.read_text()[-3000:]}')
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                pytest.fail(f'the demo did not answer in {START_TIMEOUT} s:\n'
                            f'{log.read_text()[-3000:]}')
            time.sleep(1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope='module')
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--window-size=1280,1300'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture(scope='module')
def expected(tiny_cbt_trained, tmp_path_factory):
    """The first validation image enlarged 4x (128 x 128) as a PNG (which
    the browser's upload and cv2 decode alike), and the demo's pictures of
    it drawn in this process."""
    from mmseg_cbsa.analysis.web_demo import WebDemo
    src = sorted((tiny_cbt_trained['data'] / 'images' / 'validation').iterdir())[0]
    png = tmp_path_factory.mktemp('web_demo_input') / 'input.png'
    cv2.imwrite(str(png), cv2.resize(cv2.imread(str(src)), None, fx=4, fy=4,
                                     interpolation=cv2.INTER_NEAREST))
    demo = WebDemo(tiny_cbt_trained['config'], str(tiny_cbt_trained['checkpoint']))
    analysis = demo.analyse(cv2.imread(str(png))[..., ::-1])
    return dict(png=png, demo=demo, analysis=analysis)


def _shown(driver, elem_id, old_src=None, timeout=RESULT_TIMEOUT):
    """The RGB picture an output image component shows, once its source is
    set (and differs from ``old_src``); returns (picture, src)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        imgs = d.find_elements(By.CSS_SELECTOR, f'#{elem_id} img')
        src = imgs[0].get_attribute('src') if imgs else None
        return src if src and src != old_src else False
    src = WebDriverWait(driver, timeout).until(ready)
    if src.startswith('data:'):
        data = base64.b64decode(src.split(',', 1)[1])
    else:
        with urllib.request.urlopen(src, timeout=30) as r:
            data = r.read()
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert picture is not None, f'{elem_id}: {src[:100]} is not an image'
    return picture[..., ::-1], src


def _requested_urls(driver):
    urls = []
    for entry in driver.get_log('performance'):
        message = json.loads(entry['message'])['message']
        if message['method'] == 'Network.requestWillBeSent':
            urls.append(message['params']['request']['url'])
    return urls


def test_upload_segment_and_read_back_the_pictures(server, browser, expected):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait
    demo, analysis = expected['demo'], expected['analysis']
    browser.get(server)
    upload = WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.CSS_SELECTOR, '#upload input[type=file]'))
    upload.send_keys(str(expected['png']))

    segmentation, _ = _shown(browser, 'segmentation')
    np.testing.assert_array_equal(segmentation, demo.segmentation(analysis))
    names = demo.predicted_classes(analysis)
    assert names and browser.find_element(By.ID, 'classes').text == \
        'predicted: ' + ', '.join(names)

    cls_picture, _ = _shown(browser, 'cls-picture')
    np.testing.assert_array_equal(cls_picture, demo.cls_picture(analysis, 0, 0))
    rep_picture, rep_src = _shown(browser, 'rep-picture')
    np.testing.assert_array_equal(rep_picture, demo.representative_picture(analysis, 0, 0, 0))

    # choose representative 3 (of the head's 2x2): its own map is shown
    number = browser.find_element(By.CSS_SELECTOR, '#rep-index input[type=number]')
    number.send_keys(Keys.CONTROL, 'a')
    number.send_keys('3', Keys.ENTER)
    rep_picture, _ = _shown(browser, 'rep-picture', old_src=rep_src)
    np.testing.assert_array_equal(rep_picture, demo.representative_picture(analysis, 0, 0, 3))

    path = os.environ.get('MMSEG_CBSA_WEB_DEMO_SCREENSHOT')
    if path:
        browser.save_screenshot(path)

    # offline: the page and everything it loaded came from the demo itself
    urls = _requested_urls(browser)
    assert any(u.startswith(server + 'assets/') for u in urls)
    outside = [u for u in urls if not u.startswith((server, 'data:', 'blob:'))]
    assert not outside, outside
