"""What a run shows on its console: its own progress, not pages of preamble
or notices that third-party code prints on every run.

Nothing here acts on import; the project's entry points apply it:

* :func:`known_warnings_ignored` (``tools/train.py``, ``tools/test.py``): a
  context in which the Python warnings of :data:`KNOWN_WARNINGS` are not
  shown. Each is matched by category, the start of its message and the module
  that issues it, and each is harmless for the project's runs (the reason is
  listed with it). Warnings that the project's own code or configs cause are
  fixed where they arise, not listed here.
* :class:`FileOnlyRecords` (:class:`~mmseg_cbsa.engine.UniqueLogRunner`): a
  filter for a Runner's console handler that keeps mmengine's preamble (the
  environment, the whole config and the hook order: about 350 lines before
  the first iteration of the quickstart) and the log records of
  :data:`KNOWN_LOG_WARNINGS` in the log file only.
"""
import contextlib
import logging
import re
import warnings
from typing import Iterator, NamedTuple, Tuple, Type


class KnownWarning(NamedTuple):
    """A third-party Python warning, matched by ``category``, the start of its
    message (``message``, literal text) and the issuing module (``module``, a
    regular expression for the module name)."""
    category: Type[Warning]
    message: str
    module: str
    reason: str


KNOWN_WARNINGS: Tuple[KnownWarning, ...] = (
    KnownWarning(
        UserWarning, 'pkg_resources is deprecated as an API',
        r'(mmengine\.utils\.package_utils|importlib)$',
        "mmengine 0.10.7 imports and reloads setuptools' pkg_resources to resolve a config's "
        "'mmseg::' base files"),
    KnownWarning(
        UserWarning, '``build_loss`` would be deprecated soon', r'mmseg\.models\.builder$',
        "mmseg 1.2.2's BaseDecodeHead builds its losses with its own deprecated build_loss"),
    KnownWarning(
        UserWarning, 'Default ``avg_non_ignore`` is False',
        r'mmseg\.models\.losses\.cross_entropy_loss$',
        "shown for every CrossEntropyLoss with avg_non_ignore=False, also where a config keeps "
        "mmseg's averaging on purpose (the quickstart, whose figures were measured with it)"),
    KnownWarning(
        UserWarning, 'Setting MKL_NUM_THREADS environment variable for each process to be 1',
        r'mmengine\.utils\.dl_utils\.setup_env$',
        "mmengine's notice, once per process of a distributed run, that MKL gets one thread "
        "per process, beside torchrun's own notice of that default for OpenMP"),
    KnownWarning(
        FutureWarning, '`broadcast_buffers` is deprecated',
        r'mmengine\.model\.wrappers\.distributed$',
        "mmengine's default DDP wrapper (CUDA runs) passes broadcast_buffers=False, which torch "
        'still honours; the CPU wrapper of prepare_config passes forward_sync_buffers'),
)


@contextlib.contextmanager
def known_warnings_ignored() -> Iterator[None]:
    """Within the context, the warnings of :data:`KNOWN_WARNINGS` are not
    shown (every other warning is, as before); the filters are restored on exit."""
    with warnings.catch_warnings():
        for known in KNOWN_WARNINGS:
            warnings.filterwarnings(
                'ignore',
                message=re.escape(known.message),
                category=known.category,
                module=known.module)
        yield


# mmengine 0.10.7's Runner: _log_env and __init__
RUNNER_PREAMBLE = ('\n' + '-' * 60 + '\nSystem environment:', 'Config:\n',
                   'Hooks will be executed in the following order:\n')
KNOWN_LOG_WARNINGS = (
    # mmseg's IoUMetric has no default prefix; its keys stay 'mIoU', ... as in mmseg's runs
    'The prefix is not set in metric class ',
    # mmengine's CheckpointHook builds a FileClient in before_train whatever its arguments
    '"FileClient" will be deprecated in future.',
    '"HardDiskBackend" is the alias of "LocalBackend"',
)


class FileOnlyRecords(logging.Filter):
    """A filter for a console handler: drops the records whose message starts
    with one of ``prefixes`` (:data:`RUNNER_PREAMBLE` and
    :data:`KNOWN_LOG_WARNINGS` by default); the logger's file handler still
    writes them."""

    def __init__(self, prefixes: Tuple[str, ...] = RUNNER_PREAMBLE + KNOWN_LOG_WARNINGS) -> None:
        super().__init__()
        self.prefixes = tuple(prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefixes)


def console_handlers(logger: logging.Logger) -> list:
    """The handlers of ``logger`` that write to a stream other than a file."""
    return [
        h for h in logger.handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


__all__ = [
    'FileOnlyRecords', 'KNOWN_LOG_WARNINGS', 'KNOWN_WARNINGS', 'KnownWarning', 'RUNNER_PREAMBLE',
    'console_handlers', 'known_warnings_ignored'
]
