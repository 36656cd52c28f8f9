"""The model index (model-index.yml, configs/<method>/metafile.yaml, README.md)
agrees with the configs: every leaf config has exactly one metafile entry, every
entry names an existing config, and the fields mmengine's readers need are there
(``Config`` for ``mmseg_cbsa::`` paths, ``Name`` and ``Weights`` for
``MMSegInferencer``)."""
import glob
import os
from collections import Counter

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIG_DIR = os.path.join(REPO, 'configs')
LEAVES = sorted(
    os.path.relpath(p, REPO)
    for p in glob.glob(os.path.join(CONFIG_DIR, '**', '*.py'), recursive=True)
    if os.sep + '_base_' + os.sep not in p)
METAFILES = sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(CONFIG_DIR, '*', 'metafile.yaml')))


def _load(path):
    with open(os.path.join(REPO, path)) as f:
        return yaml.safe_load(f)


def _entries():
    """(metafile, entry) for every model of every metafile."""
    return [(m, e) for m in METAFILES for e in _load(m)['Models']]


def test_model_index_imports_every_metafile():
    imported = _load('model-index.yml')['Import']
    missing = [m for m in METAFILES if m not in imported]
    assert not missing, f'model-index.yml does not import {missing}'
    stale = [m for m in imported if m not in METAFILES]
    assert not stale, f'model-index.yml imports missing files {stale}'
    assert len(imported) == len(set(imported))


def test_every_config_has_one_metafile_entry():
    listed = Counter(e['Config'] for _, e in _entries())
    missing = [
        f'{c} -> add it to configs/{c.split(os.sep)[1]}/metafile.yaml'
        if c.count(os.sep) > 1 else f'{c} -> add it to the metafile of its method' for c in LEAVES
        if c not in listed
    ]
    assert not missing, 'configs in no metafile:\n' + '\n'.join(missing)
    twice = [c for c, n in listed.items() if n > 1]
    assert not twice, f'configs listed more than once: {twice}'


def test_every_entry_names_an_existing_config():
    stale = [
        f'{m}: {e["Name"]} -> {e["Config"]}' for m, e in _entries() if e['Config'] not in LEAVES
    ]
    assert not stale, 'metafile entries without their config:\n' + '\n'.join(stale)


def test_names_are_config_names_and_unique():
    wrong = [
        f'{m}: {e["Name"]} (config {e["Config"]})' for m, e in _entries()
        if e['Name'] != os.path.basename(e['Config'])[:-len('.py')]
    ]
    assert not wrong, 'Name must be the config file name without .py:\n' + '\n'.join(wrong)
    names = Counter(e['Name'] for _, e in _entries())
    assert [n for n, k in names.items() if k > 1] == []


@pytest.mark.parametrize('metafile', METAFILES)
def test_metafile_schema(metafile):
    meta = _load(metafile)
    collections = {c['Name']: c for c in meta['Collections']}
    for c in collections.values():
        assert {'Name', 'Metadata', 'Paper', 'README'} <= set(c), c['Name']
        assert os.path.isfile(os.path.join(REPO, c['README'])), c['README']
    for e in meta['Models']:
        where = f'{metafile}: {e["Name"]}'
        # BaseInferencer reads model_cfg['Weights'] (null: the user passes weights=...)
        assert {'Name', 'In Collection', 'Config', 'Metadata', 'Weights'} <= set(e), where
        assert e['In Collection'] in collections, where
        for result in e.get('Results', []):
            assert {'Task', 'Dataset', 'Metrics'} <= set(result) and result['Metrics'], where
        if e.get('Results'):
            # a number is labelled as the paper's or as measured here
            source = e['Metadata'].get('Results From', '')
            assert source.startswith(('the paper', 'ours')), where


@pytest.mark.parametrize('metafile', METAFILES)
def test_readme_names_every_model(metafile):
    meta = _load(metafile)
    for c in meta['Collections']:
        with open(os.path.join(REPO, c['README'])) as f:
            readme = f.read()
        absent = [
            e['Name'] for e in meta['Models']
            if e['In Collection'] == c['Name'] and e['Name'] not in readme
        ]
        assert not absent, f'{c["README"]} does not mention {absent}'


def test_every_config_folder_has_readme_and_metafile():
    folders = sorted({c.split(os.sep)[1] for c in LEAVES if c.count(os.sep) > 1})
    lacking = [
        f for f in folders if not all(
            os.path.isfile(os.path.join(CONFIG_DIR, f, n)) for n in ('README.md', 'metafile.yaml'))
    ]
    assert not lacking, f'config folders without README.md / metafile.yaml: {lacking}'


@pytest.mark.parametrize(
    'readme',
    sorted(os.path.relpath(p, REPO) for p in glob.glob(os.path.join(CONFIG_DIR, '*', 'README.md'))))
def test_config_readme_links_resolve(readme):
    from tests.test_docs import test_relative_links_resolve
    test_relative_links_resolve(readme)
