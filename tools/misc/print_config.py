"""mmseg's tools/misc/print_config.py with this package imported first, so
that configs inheriting ``mmseg_cbsa::...`` resolve (mmengine reads the
``_base_`` chain before it imports a config's ``custom_imports``).

    python tools/misc/print_config.py CONFIG [--graph] [--cfg-options k=v ...]

mmseg's tool also writes ``example.py`` (and, with ``--graph``,
``example-graph.txt``) into the working directory, replacing a user's files
of those names; here it runs in a scratch directory, so the working directory
is left as it was. Both print the same.
"""
import os
import os.path as osp
import runpy
import sys
import tempfile

import mmseg

import mmseg_cbsa  # noqa: F401  (registers the mmseg_cbsa:: scope)

if __name__ == '__main__':
    # the config (and anything else named by an existing path) as seen from here
    sys.argv[1:] = [osp.abspath(a) if osp.exists(a) else a for a in sys.argv[1:]]
    with tempfile.TemporaryDirectory(prefix='print_config-') as scratch:
        os.chdir(scratch)
        runpy.run_path(
            osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'misc', 'print_config.py'),
            run_name='__main__')
