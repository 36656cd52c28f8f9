"""The README and the guides point at things that exist, and every paper
concept can be found by its name in the tree."""
import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ['README.md'] + sorted(os.path.relpath(p, REPO)
                               for p in glob.glob(os.path.join(REPO, 'docs', '*.md')))
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


@pytest.mark.parametrize('page', PAGES)
def test_relative_links_resolve(page):
    with open(os.path.join(REPO, page)) as f:
        text = f.read()
    broken = []
    for target in LINK.findall(text):
        if re.match(r'^[a-z]+:', target) or target.startswith('#'):
            continue
        path = os.path.normpath(os.path.join(REPO, os.path.dirname(page),
                                             target.split('#', 1)[0]))
        if not os.path.exists(path):
            broken.append(target)
    assert not broken, f'{page}: links to missing files {broken}'


def test_readme_opens_with_the_two_commands():
    with open(os.path.join(REPO, 'README.md')) as f:
        head = f.read().splitlines()[:8]
    assert any('bash tools/install.sh && python tools/train.py configs/quickstart/' in line
               for line in head)
    assert 'bash tools/install.sh --tests && python -m pytest tests' in head


@pytest.mark.parametrize('concept,file,definition', [
    ('CBSA', 'models/attentions/cbsa.py', r'class CBSA\('),
    ('extraction', 'models/attentions/cbsa.py', r'def extract\('),
    ('contraction', 'models/attentions/cbsa.py', r'def contract\('),
    ('broadcast', 'models/attentions/cbsa.py', r'def broadcast\('),
    ('representatives', 'models/attentions/representatives.py', r'def pool_patch_tokens\('),
    ('ISTA', 'models/layers/ista.py', r'class ISTA\('),
    ('coding rate', 'analysis/coding_rate.py', r'def coding_rate\('),
])
def test_paper_concepts_have_a_home_named_after_them(concept, file, definition):
    path = os.path.join(REPO, 'mmseg_cbsa', file)
    assert os.path.isfile(path), f'{concept}: {file} missing'
    with open(path) as f:
        assert re.search(definition, f.read()), f'{concept}: {definition} not in {file}'
