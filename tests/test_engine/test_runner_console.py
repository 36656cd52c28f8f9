"""The project's Runner keeps mmengine's preamble (environment, config, hook
order) in the log file and prints one line naming that file."""
import logging
import re

from mmengine.config import Config

import mmseg_cbsa  # noqa: F401
from mmseg_cbsa.engine import build_runner

PREAMBLE = ('System environment:', 'Config:', 'Hooks will be executed in the following order')


def test_preamble_in_the_log_file_not_on_the_console(repo_root, tmp_path, capsys):
    cfg = Config.fromfile(f'{repo_root}/tests/data/configs/tiny_cbt.py')
    cfg.work_dir = str(tmp_path)
    cfg.launcher = 'none'
    capsys.readouterr()
    runner = build_runner(cfg)  # the console handler writes to the captured stdout
    console = capsys.readouterr().out
    for line in PREAMBLE:
        assert line not in console, console[:2000]
    pointer = re.search(r'Environment, config and hook order: (\S+)', console)
    assert pointer, console
    assert len(console.splitlines()) <= 3, console  # the pointer and mmengine's SyncBN note
    log_file = pointer.group(1)
    files = [h.baseFilename for h in runner.logger.handlers if isinstance(h, logging.FileHandler)]
    assert log_file.startswith(str(tmp_path)) and files == [log_file]
    logged = open(log_file).read()
    for line in PREAMBLE:
        assert line in logged
    assert "crop_size = (\n    32,\n    32,\n)" in logged  # the whole config
