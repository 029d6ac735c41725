"""How the code is laid out, checked from the source: one place restores checkpoints,
and the package never reaches up into the scripts."""

import ast
import pathlib

import pytest

from conftest import REPO_ROOT

SCRIPTS = {p.stem for p in REPO_ROOT.glob('*.py')}
PACKAGE = sorted((REPO_ROOT / 'deep_mnist').glob('*.py'))
SOURCES = sorted(REPO_ROOT.glob('*.py')) + PACKAGE + sorted(REPO_ROOT.glob('bench/*.py')) + \
    sorted(REPO_ROOT.glob('reproduction/*.py'))
# The loader is the tutorial's input_data: a module the package reads MNIST with.
LIBRARY_SCRIPTS = {'mnist_data'}


def calls_of(path, attribute):
    """Line numbers of calls ``<anything>.attribute(...)`` in a Python file."""
    tree = ast.parse(path.read_text(encoding='utf-8'))
    return [node.lineno for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr == attribute]


def imported_modules(path):
    tree = ast.parse(path.read_text(encoding='utf-8'))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name.split('.')[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module.split('.')[0]


def test_the_sources_are_found():
    names = {p.name for p in SOURCES}
    assert {'deep_cnn.py', 'visualize_filters.py', 'checkpoints.py', 'training.py'} <= names


@pytest.mark.parametrize('path', SOURCES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_only_the_checkpoints_module_restores_a_checkpoint(path):
    where = calls_of(path, 'restore')
    if path == REPO_ROOT / 'deep_mnist' / 'checkpoints.py':
        assert where, 'deep_mnist/checkpoints.py should be the one place that restores'
    else:
        assert not where, '%s calls .restore() on lines %s' % (path.name, where)


@pytest.mark.parametrize('path', PACKAGE, ids=lambda p: p.name)
def test_the_package_imports_no_script(path):
    scripts = (SCRIPTS - LIBRARY_SCRIPTS) & set(imported_modules(path))
    assert not scripts, 'deep_mnist/%s imports %s' % (path.name, ', '.join(sorted(scripts)))


def test_the_checker_sees_an_import_of_a_script(tmp_path):
    bad = tmp_path / 'bad.py'
    bad.write_text('import os\nfrom deep_cnn import deepnn\n')
    assert 'deep_cnn' in set(imported_modules(bad))
    assert calls_of(pathlib.Path(bad), 'restore') == []
