"""The web demo driven as a person would use it: served in its own process
(or in this one, :func:`serve_here`), opened in headless Chromium
(selenium), an image uploaded, the pictures the page shows read back. Its
end-to-end test (tests/test_tools/test_web_demo.py) and
``demo/web_demo_screenshot.py`` (docs/images/web_demo.png) are built on
these steps.

Needs ``chromium`` and ``chromedriver`` on PATH (Debian's ``chromium`` and
``chromium-driver``; ``tools/install.sh --tests`` installs them) and selenium.
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
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

#: seconds the demo may take to answer: it imports torch, mmseg and gradio
START_TIMEOUT = 240
#: seconds a picture may take to appear: one forward pass and the drawing
RESULT_TIMEOUT = 120


def browser_paths() -> Tuple[Optional[str], Optional[str]]:
    """(chromium, chromedriver) found on PATH, None where missing."""
    return (shutil.which('chromium')
            or shutil.which('chromium-browser'), shutil.which('chromedriver'))


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextmanager
def serve(config: str, checkpoint: str, log_file: str, **options) -> Iterator[str]:
    """Run the demo (``python -m mmseg_cbsa.apps.web_demo``) on the
    loopback interface until the block ends; yields its URL once it answers.
    ``options`` are :func:`serve_process`'s, which also gives the process."""
    with serve_process(config, checkpoint, log_file, **options) as (url, _):
        yield url


@contextmanager
def serve_process(
    config: str,
    checkpoint: str,
    log_file: str,
    port: Optional[int] = None,
    env: Optional[Dict[str, str]] = None,
    cwd: Optional[str] = None,
    timeout: float = START_TIMEOUT,
    args: Sequence[str] = ()) -> Iterator[Tuple[str, subprocess.Popen]]:
    """Run the demo with the command-line options ``args`` (its limits, see
    ``mmseg_cbsa.apps.web_demo.parse_args``) on the loopback interface until
    the block ends; yields its URL once it answers, and its process (whose
    memory a test can read).

    Raises:
        RuntimeError: the demo exited or did not answer within ``timeout``
            (with the end of its output, kept in ``log_file``).
    """
    port = port or free_port()
    url = f'http://127.0.0.1:{port}/'
    with open(log_file, 'w') as log:
        proc = subprocess.Popen([
            sys.executable, '-m', 'mmseg_cbsa.apps.web_demo', config, checkpoint, '--port',
            str(port), *args
        ],
                                stdout=log,
                                stderr=subprocess.STDOUT,
                                cwd=cwd,
                                env={
                                    **os.environ,
                                    **(env or {})
                                })
    try:
        deadline = time.time() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f'the demo exited ({proc.returncode}):\n' +
                                   open(log_file).read()[-3000:])
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.time() > deadline:
                raise RuntimeError(f'the demo did not answer in {timeout} s:\n' +
                                   open(log_file).read()[-3000:])
            time.sleep(1)
        yield url, proc
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@contextmanager
def serve_here(demo, cache_dir: str) -> Iterator[str]:
    """Serve ``demo`` (a :class:`~mmseg_cbsa.apps.web_demo.WebDemo`) in this
    process on a free loopback port, with Gradio's cache in ``cache_dir``,
    until the block ends; yields its URL. Tests use it to look into what
    the page keeps (``demo.store``) and into its cache."""
    from .web_demo import serve_page
    port = free_port()
    old = os.environ.get('GRADIO_TEMP_DIR')
    os.environ['GRADIO_TEMP_DIR'] = cache_dir
    page = serve_page(demo, '127.0.0.1', port, block=False)
    try:
        yield f'http://127.0.0.1:{port}/'
    finally:
        page.close()
        if old is None:
            del os.environ['GRADIO_TEMP_DIR']
        else:
            os.environ['GRADIO_TEMP_DIR'] = old


@contextmanager
def chromium(window: Sequence[int] = (1280, 1300)):
    """Headless Chromium under selenium, recording every network request
    (see :func:`requested_urls`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    browser, driver_path = browser_paths()
    if not (browser and driver_path):
        raise FileNotFoundError('chromium and chromedriver are needed on PATH (Debian: '
                                'apt-get install chromium chromium-driver)')
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                f'--window-size={window[0]},{window[1]}'):
        options.add_argument(arg)
    options.set_capability('goog:loggingPrefs', {'performance': 'ALL'})
    # the driver is given: selenium does not look for (or download) one
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def upload(driver, url: str, image: str, timeout: float = 60) -> None:
    """Open the demo page and upload the image file ``image``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    field = WebDriverWait(
        driver,
        timeout).until(lambda d: d.find_element(By.CSS_SELECTOR, '#upload input[type=file]'))
    field.send_keys(os.path.abspath(image))


def shown(driver,
          elem_id: str,
          old_src: Optional[str] = None,
          timeout: float = RESULT_TIMEOUT) -> Tuple[np.ndarray, str]:
    """The (H, W, 3) RGB picture an output image of the page shows once its
    source is set (and differs from ``old_src``), fetched from the demo as
    the browser fetched it, and that source."""
    import cv2
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
    if picture is None:
        raise ValueError(f'#{elem_id}: {src[:100]} is not an image')
    return picture[..., ::-1], src


#: the page's pictures, each with what it shows instead where it does not
#: apply (a classifier's page has no segmentation, a model without a [CLS]
#: token or CBSA layers no [CLS] or representative picture)
PANELS = (
    ('segmentation', 'no-segmentation'),
    ('cls-picture', 'cls-note'),
    ('rep-picture', 'rep-note'),
)


def analysed(driver, timeout: float = RESULT_TIMEOUT) -> List[str]:
    """The ids of the pictures the page shows for the uploaded image, once
    each of its panels shows its picture or says why it has none."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        pictures = []
        for picture, note in PANELS:
            if d.find_elements(By.CSS_SELECTOR, f'#{picture} img'):
                pictures.append(picture)
            elif not any(e.text.strip() for e in d.find_elements(By.ID, note)):
                return False
        return (pictures, )

    return WebDriverWait(driver, timeout).until(ready)[0]


def messages(driver, timeout: float = RESULT_TIMEOUT) -> List[str]:
    """The texts of the messages (Gradio's toasts: errors, warnings) the page
    shows, once it shows one with its text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown_texts(d):
        # a toast is in the page a moment before its text is
        texts = [t.text for t in d.find_elements(By.CSS_SELECTOR, '.toast-body')]
        return texts if any(t.strip() for t in texts) else False

    return WebDriverWait(driver, timeout).until(shown_texts)


def choose_representative(driver, index: int) -> None:
    """Type ``index`` into the representative slider's number field."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    field = driver.find_element(By.CSS_SELECTOR, '#rep-index input[type=number]')
    field.send_keys(Keys.CONTROL, 'a')
    field.send_keys(str(index), Keys.ENTER)


def requested_urls(driver) -> List[str]:
    """Every URL the page requested so far (Chromium's network log)."""
    urls = []
    for entry in driver.get_log('performance'):
        message = json.loads(entry['message'])['message']
        if message['method'] == 'Network.requestWillBeSent':
            urls.append(message['params']['request']['url'])
    return urls
