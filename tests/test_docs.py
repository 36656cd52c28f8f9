"""The README and the guides point at things that exist, and every paper
concept can be found by its name in the tree."""
import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ['README.md'] + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'docs', '*.md')))
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')


@pytest.mark.parametrize('page', PAGES)
def test_relative_links_resolve(page):
    with open(os.path.join(REPO, page)) as f:
        text = f.read()
    broken = []
    for target in LINK.findall(text):
        if re.match(r'^[a-z]+:', target) or target.startswith('#'):
            continue
        path = os.path.normpath(os.path.join(REPO, os.path.dirname(page), target.split('#', 1)[0]))
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
    ('learned representatives', 'models/attentions/cbsa.py', r"REP_INITS = \('pool', 'learned'\)"),
    ('rank of the extraction matrix', 'analysis/rep_rank.py', r'class ExtractionRankRecorder\('),
    ('Fig. 6 per-subspace', 'analysis/coding_rate.py', r'class SubspaceReductionRecorder\('),
    ('QKVCBSA', 'models/attentions/qkv_cbsa.py', r'class QKVCBSA\('),
    ('QKVLinearAttention', 'models/attentions/qkv_linear.py', r'class QKVLinearAttention\('),
    ('vit2cbsa', 'converters/vit_adaptation.py', r'def convert_vit_to_cbsa\('),
    ('web demo', 'apps/web_demo.py', r'class WebDemo\b'),
])
def test_paper_concepts_have_a_home_named_after_them(concept, file, definition):
    path = os.path.join(REPO, 'mmseg_cbsa', file)
    assert os.path.isfile(path), f'{concept}: {file} missing'
    with open(path) as f:
        assert re.search(definition, f.read()), f'{concept}: {definition} not in {file}'


def _concept_table():
    with open(os.path.join(REPO, 'docs', 'architecture.md')) as f:
        text = f.read().split('## Where is each paper concept', 1)[1]
    return [line for line in text.splitlines() if line.startswith('| ') and '---' not in line]


@pytest.mark.parametrize('concept', [
    'rep_init', 'rep_rank', 'Fig. 6 per-subspace', 'QKVCBSA', 'QKVLinearAttention', 'vit2cbsa',
    'Pascal Context', 'Cityscapes', 'fine-tuning', 'web demo'
])
def test_architecture_table_has_a_row_for_each_concept(concept):
    assert any(concept in row for row in _concept_table()), \
        f'docs/architecture.md: no row for {concept!r} in "Where is each paper concept"'


def test_paths_in_the_concept_table_exist():
    paths = [
        name for row in _concept_table() for name in re.findall(r'`([^`]+)`', row)
        if re.fullmatch(r'[\w.-]+(/[\w.-]+)+/?', name)
    ]
    assert len(paths) > 20  # the table names its files by path
    missing = [p for p in paths if not os.path.exists(os.path.join(REPO, p))]
    assert not missing, f'docs/architecture.md names missing paths: {missing}'


def test_every_guide_is_in_the_index():
    with open(os.path.join(REPO, 'docs', 'index.md')) as f:
        linked = set(LINK.findall(f.read()))
    guides = {os.path.basename(p) for p in PAGES if p.startswith('docs' + os.sep)}
    unlinked = sorted(guides - linked - {'index.md'})
    assert not unlinked, f'docs/index.md lacks {unlinked}'


# --- measured numbers: one source (docs/measured.yaml), each with its command ---

MEASURED = os.path.join(REPO, 'docs', 'measured.yaml')
# pages that quote the measured numbers (the quickstart's own README and
# config comments quote them too)
QUOTING = PAGES + sorted(
    os.path.relpath(p, REPO) for p in glob.glob(os.path.join(REPO, 'configs', 'quickstart', '*'))
    if p.endswith(('.md', '.py')))


def _read(page):
    with open(os.path.join(REPO, page)) as f:
        return f.read()


def _measured():
    import yaml
    with open(MEASURED) as f:
        groups = yaml.safe_load(f)
    return [(f'{group}: {name}', q) for group, body in groups.items()
            for name, q in body['quantities'].items()]


def _same(quoted, value):
    decimals = len(quoted.split('.', 1)[1]) if '.' in quoted else 0
    return round(float(value), decimals) == float(quoted)


@pytest.mark.parametrize('name,quantity', _measured(), ids=[n for n, _ in _measured()])
def test_quoted_numbers_match_measured_yaml(name, quantity):
    # whitespace runs (line breaks included) read as one space
    texts = {page: re.sub(r'\s+', ' ', _read(page)) for page in QUOTING}
    wrong = []
    for pattern in quantity['quoted_as']:
        hits = [(page, m.group(1)) for page, text in texts.items()
                for m in re.finditer(pattern, text)]
        assert hits, f'{name}: {pattern!r} quotes nothing any more (update docs/measured.yaml)'
        wrong += [f'{page}: {q}' for page, q in hits if not _same(q, quantity['value'])]
    assert not wrong, f"{name} is {quantity['value']} in docs/measured.yaml, but {wrong}"


@pytest.mark.parametrize('name,quantity', _measured(), ids=[n for n, _ in _measured()])
def test_measured_numbers_name_a_command_the_docs_give(name, quantity):
    command = quantity['command']
    assert re.match(r'(time )?(python|bash) ', command), command
    assert any(command in _read(page) for page in PAGES), \
        f'{name}: its command {command!r} is in no page'


MEASURED_HERE = re.compile(r'measured here|measured on this project', re.I)
# meta statements and negations: "not measured here", "none were measured here",
# "labelled either as measured here"
NOT_A_CLAIM = re.compile(r'(\bnot\b|\bnone\b|\bno\b|labelled)[^.;:]*$', re.I)
COMMAND = re.compile(r'`(time )?(python|bash) [^`]*`|^\s*(time )?(python|bash) ', re.M)


def _is_a_claim(text, start):
    return not NOT_A_CLAIM.search(text[max(0, start - 80):start])


def _sections(text):
    """(heading, own text, text with its subsections) per section."""
    parts = re.split(r'^(#{1,6} .*)$', text, flags=re.M)
    heads, bodies = ['(top)'] + parts[1::2], [parts[0]] + parts[2::2]
    level = [7] + [len(h) - len(h.lstrip('#')) for h in heads[1:]]
    out = []
    for i, (head, body) in enumerate(zip(heads, bodies)):
        end = next((j for j in range(i + 1, len(heads)) if level[j] <= level[i]), len(heads))
        out.append((head, body, ''.join(bodies[i:end])))
    return out


@pytest.mark.parametrize('page', PAGES)
def test_measured_here_comes_with_its_command(page):
    """A paragraph or table row that presents a figure as measured here has the
    command that produced it in its section: the paragraph, the code block after
    it, or (for a section's "all figures below were measured here") its
    subsections."""
    missing = []
    for heading, body, whole in _sections(_read(page)):
        claims = [m for m in MEASURED_HERE.finditer(body) if _is_a_claim(body, m.start())]
        if claims and not COMMAND.search(whole):
            missing.append(heading.strip())
    assert not missing, f'{page}: "measured here" without a command in sections {missing}'
