"""The browser test fails, never skips, when the browser is missing, and
says how to install it."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_missing_browser_fails_with_the_install_command(repo_root, tmp_path):
    # PATH with Python alone: no chromium, no chromedriver
    env = dict(os.environ, PATH=os.path.dirname(sys.executable))
    res = subprocess.run([
        sys.executable, '-m', 'pytest', 'tests/test_tools/test_web_demo.py', '-q', '-p',
        'no:randomly', '-p', 'no:cacheprovider', '-n', '0'
    ],
                         cwd=repo_root,
                         env=env,
                         capture_output=True,
                         text=True,
                         timeout=300)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out[-3000:]
    assert 'skipped' not in out
    assert ('the web demo browser test needs chromium, chromedriver: '
            'run `bash tools/install.sh --tests`, which installs them') in out
    assert ' passed' not in out and ' error' in out
