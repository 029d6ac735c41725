"""The notebook's Colab badge and clone URL come from one place, pyproject.toml's
[project.urls] Repository: the committed notebook agrees with it, and
``python -m deep_mnist.notebook_links`` rewrites the two links and nothing else."""

import json
import shutil
import subprocess
import sys

from conftest import REPO_ROOT
from deep_mnist import notebook_links

NOTEBOOK = REPO_ROOT / 'notebooks' / 'deep_mnist.ipynb'


def cells(path):
    return [''.join(c['source']) for c in json.loads(path.read_text(encoding='utf-8'))['cells']]


def test_the_committed_notebook_agrees_with_pyproject():
    repository = notebook_links.repository_url(REPO_ROOT)
    assert repository.startswith('https://github.com/')
    badge, clone = notebook_links.links(repository)
    text = NOTEBOOK.read_text(encoding='utf-8')
    assert notebook_links.rewritten(text, repository) == text, \
        'run: python -m deep_mnist.notebook_links'
    first, *rest = cells(NOTEBOOK)
    assert '(%s)' % badge in first
    setup = next(c for c in rest if 'REPOSITORY = ' in c)
    assert "REPOSITORY = '%s'" % clone in setup
    assert 'OWNER' not in first + setup


def copy_with_repository(root, repository):
    (root / 'notebooks').mkdir(parents=True)
    shutil.copy(NOTEBOOK, root / 'notebooks')
    text = (REPO_ROOT / 'pyproject.toml').read_text(encoding='utf-8')
    old = notebook_links.repository_url(REPO_ROOT)
    assert text.count('"%s"' % old) == 1
    (root / 'pyproject.toml').write_text(text.replace('"%s"' % old, '"%s"' % repository),
                                         encoding='utf-8')
    return root / 'notebooks' / 'deep_mnist.ipynb'


def links_command(root, *args):
    return subprocess.run([sys.executable, '-m', 'deep_mnist.notebook_links', '--root',
                           str(root), *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=60)


def test_one_change_in_pyproject_moves_both_links(tmp_path):
    notebook = copy_with_repository(tmp_path, 'https://github.com/a-learner/deep-mnist-fork')
    before = cells(notebook)

    proc = links_command(tmp_path, '--check')
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: ') and proc.stderr.count('\n') == 1, proc.stderr
    assert cells(notebook) == before

    proc = links_command(tmp_path)
    assert proc.returncode == 0, proc.stderr
    after = cells(notebook)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(after) == len(before) and len(changed) == 2, changed
    assert changed[0] == 0
    assert ('(https://colab.research.google.com/github/a-learner/deep-mnist-fork/blob/main/'
            'notebooks/deep_mnist.ipynb)') in after[0]
    assert "REPOSITORY = 'https://github.com/a-learner/deep-mnist-fork'" in after[changed[1]]
    nb = json.loads(notebook.read_text(encoding='utf-8'))   # still a notebook, still clean
    assert all(not c.get('outputs') for c in nb['cells'])

    assert links_command(tmp_path, '--check').returncode == 0


def test_a_repository_colab_cannot_open_is_one_line(tmp_path):
    notebook = copy_with_repository(tmp_path, 'https://gitlab.com/a-learner/deep-mnist')
    before = notebook.read_bytes()
    proc = links_command(tmp_path)
    assert proc.returncode == 1
    assert 'not a https://github.com/OWNER/NAME URL' in proc.stderr
    assert proc.stderr.count('\n') == 1 and 'Traceback' not in proc.stderr
    assert notebook.read_bytes() == before
