"""The console filters of mmseg_cbsa.utils.console: the known third-party
warnings hidden only inside the tools' context and only for their own
message and module; the Runner's preamble kept off the console handler but
written to the log file."""
import io
import logging
import warnings

import pytest

from mmseg_cbsa.utils.console import (KNOWN_LOG_WARNINGS, KNOWN_WARNINGS, RUNNER_PREAMBLE,
                                      FileOnlyRecords, console_handlers, known_warnings_ignored)

# the module names the warnings are issued from (mmengine 0.10.7, mmseg 1.2.2)
ISSUERS = {
    'pkg_resources is deprecated as an API': 'mmengine.utils.package_utils',
    '``build_loss`` would be deprecated soon': 'mmseg.models.builder',
    'Default ``avg_non_ignore`` is False': 'mmseg.models.losses.cross_entropy_loss',
    'Setting MKL_NUM_THREADS environment variable': 'mmengine.utils.dl_utils.setup_env',
    '`broadcast_buffers` is deprecated': 'mmengine.model.wrappers.distributed',
}


def _shown(category, message, module, ignore_known):
    """The warnings shown when ``module`` issues ``message``."""
    with warnings.catch_warnings(record=True) as shown:
        warnings.simplefilter('always')
        if ignore_known:
            with known_warnings_ignored():
                warnings.warn_explicit(message, category, 'f.py', 1, module=module)
        else:
            warnings.warn_explicit(message, category, 'f.py', 1, module=module)
    return [str(w.message) for w in shown]


@pytest.mark.parametrize('known', KNOWN_WARNINGS, ids=lambda k: k.message[:30])
def test_known_warning_hidden_only_in_the_context(known):
    issuer = next(m for start, m in ISSUERS.items() if known.message.startswith(start))
    message = known.message + ' (the rest of the text)'
    assert _shown(known.category, message, issuer, ignore_known=False) == [message]
    assert _shown(known.category, message, issuer, ignore_known=True) == []
    # the same text from another module, or another text from that module, is shown
    assert _shown(known.category, message, 'mmseg_cbsa.models', ignore_known=True) == [message]
    other = 'reduce_zero_label will be deprecated'
    assert _shown(known.category, other, issuer, ignore_known=True) == [other]


def test_filters_restored_after_the_context():
    before = list(warnings.filters)
    with known_warnings_ignored():
        assert len(warnings.filters) == len(before) + len(KNOWN_WARNINGS)
    assert warnings.filters == before


def test_file_only_records_reach_the_file_not_the_console(tmp_path):
    logger = logging.getLogger(f'console-test-{tmp_path.name}')
    logger.setLevel(logging.INFO)
    logger.propagate = False
    console, path = io.StringIO(), tmp_path / 'run.log'
    logger.addHandler(logging.StreamHandler(console))
    logger.addHandler(logging.FileHandler(path))
    assert console_handlers(logger) == logger.handlers[:1]
    for handler in console_handlers(logger):
        handler.addFilter(FileOnlyRecords())
    try:
        records = [p + ' ...' for p in RUNNER_PREAMBLE + KNOWN_LOG_WARNINGS]
        for record in records:
            logger.info(record)
        logger.info('Iter(train) [1/4]')
        logger.warning('a warning of the run itself')
    finally:
        for handler in list(logger.handlers):
            handler.close()
            logger.removeHandler(handler)
    assert console.getvalue() == 'Iter(train) [1/4]\na warning of the run itself\n'
    assert path.read_text() == ''.join(r + '\n' for r in records) + console.getvalue()
