"""mmseg's tools/misc/print_config.py with this package imported first, so
that configs inheriting ``mmseg_cbsa::...`` resolve (mmengine reads the
``_base_`` chain before it imports a config's ``custom_imports``).

    python tools/misc/print_config.py CONFIG [--graph] [--cfg-options k=v ...]
"""
import os.path as osp
import runpy

import mmseg

import mmseg_cbsa  # noqa: F401  (registers the mmseg_cbsa:: scope)

if __name__ == '__main__':
    runpy.run_path(
        osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'misc', 'print_config.py'),
        run_name='__main__')
