"""The commands of .github/workflows/ci.yml, run here the way a Linux runner runs them, so
that no cell fails on a typo that nobody saw (tests/test_workflows.py has actionlint and
the matrix's coverage).

For each job, its matrix is expanded as Actions expands it (``include`` merged into the
combinations it fits, else a cell of its own) and each ``run:`` step of a Linux cell is
prepared as the runner prepares it: ``if:`` evaluated, ``${{ matrix.* }}`` and
``${{ env.* }}`` substituted, the workflow's, job's and step's env, the shell of
``defaults.run`` (``bash`` is ``bash --noprofile --norc -eo pipefail``, none is
``bash -e``) and the working directory, in a copy of the repository as a checkout holds
it, with ``python`` on PATH as setup-python puts it (here: this environment's). Then:

- steps that need GitHub (``uses:`` actions, caches) are left out;
- steps that install (``pip install``) are not run, which would change this environment:
  bash parses them, pip's own ``install --help`` knows each option, each requirement is
  a valid one, and ``-e`` names a project with the extras asked for;
- pytest runs with ``--collect-only``: the marker expression parses, names registered
  markers and selects tests, without running the suite inside the suite;
- a step that runs ``.ci/run`` (the whole suite, an install included) is parsed by bash,
  as is .ci/run itself;
- every other step runs as written, and must exit 0.

Every step's file arguments must exist. The cells of macOS and Windows (shell ``bash``
there too) are parsed by bash as well.
"""

import functools
import itertools
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import REPO_ROOT
from test_readme import copy_of_the_repository

yaml = pytest.importorskip('yaml')
Requirement = pytest.importorskip('packaging.requirements').Requirement

CI = REPO_ROOT / '.github' / 'workflows' / 'ci.yml'
SHELLS = {                       # Actions' templates for a script file
    'bash': ['bash', '--noprofile', '--norc', '-eo', 'pipefail'],
    'sh': ['sh', '-e'],
    None: ['bash', '-e'],        # no shell given, on Linux and macOS
}
EXPRESSION = re.compile(r'\$\{\{\s*(.*?)\s*\}\}')
INSTALL = re.compile(r'(^|\s)(\S*/)?pip3? install\b|-m pip install\b', re.M)
PYTEST = re.compile(r'(^|\s)(-m )?pytest\b')
WHOLE_SUITE = re.compile(r'(^|\s)(\./)?\.ci/run\b')
RUN_TIMEOUT = 300


class Unsupported(Exception):
    """An expression this reader does not evaluate: extend it, rather than guess."""


def workflow():
    return yaml.safe_load(CI.read_text(encoding='utf-8'))


def cells(job):
    """The job's matrix cells, as Actions expands them ([{}] without a matrix)."""
    matrix = dict((job.get('strategy') or {}).get('matrix') or {})
    include, exclude = matrix.pop('include', []), matrix.pop('exclude', [])
    combos = [dict(zip(matrix, values)) for values in itertools.product(*matrix.values())]
    combos = [c for c in combos
              if not any(all(c.get(k) == v for k, v in e.items()) for e in exclude)]
    originals = [dict(c) for c in combos]
    extra = []
    for entry in include:
        # merged into every combination whose original values it does not change
        fits = [i for i, original in enumerate(originals)
                if all(original[k] == v for k, v in entry.items() if k in matrix)]
        for i in fits:
            combos[i].update(entry)
        if not fits:
            extra.append(dict(entry))
    return combos + extra or [{}]


def text_of(value):
    """A value as Actions renders it into a string."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    return '' if value is None else str(value)


def evaluate(expr, context):
    """A literal or a context property (``matrix.tf``, ``env.X``, ``runner.os``)."""
    expr = expr.strip()
    literal = re.fullmatch(r"'((?:[^']|'')*)'", expr)
    if literal:
        return literal.group(1).replace("''", "'")
    if re.fullmatch(r'(true|false)', expr):
        return expr == 'true'
    path = re.fullmatch(r'[A-Za-z_][\w-]*(\.[\w-]+)+', expr)
    if not path:
        raise Unsupported(expr)
    value = context
    for part in expr.split('.'):
        if not isinstance(value, dict) or part not in value:
            raise AssertionError('${{ %s }}: no %r here (a typo?)' % (expr, part))
        value = value[part]
    return value


def condition(expr, context):
    """An ``if:`` of ==, !=, !, && and || over literals and context properties."""
    if expr is None:
        return True
    expr = EXPRESSION.sub(lambda m: m.group(1), str(expr)).strip()
    if expr in ('success()', 'always()'):
        return True

    def atom(text):
        text = text.strip()
        if text.startswith('!'):
            return not atom(text[1:])
        for op in ('==', '!='):
            if op in text:
                left, right = text.split(op, 1)
                same = text_of(evaluate(left, context)) == text_of(evaluate(right, context))
                return same if op == '==' else not same
        return bool(evaluate(text, context))
    return any(all(atom(a) for a in alt.split('&&')) for alt in expr.split('||'))


def substitute(text, context):
    return EXPRESSION.sub(lambda m: text_of(evaluate(m.group(1), context)), str(text))


def steps_of(wf, os_filter=None):
    """(job id, cell, step name, script, shell, working directory, env) for every ``run:``
    step that runs in a cell (its ``if:`` holds) on a runner matching os_filter."""
    found = []
    for job_id, job in wf['jobs'].items():
        defaults = dict((wf.get('defaults') or {}).get('run') or {})
        defaults.update((job.get('defaults') or {}).get('run') or {})
        for cell in cells(job):
            runs_on = substitute(job['runs-on'], {'matrix': cell})
            if os_filter and not os_filter(runs_on):
                continue
            runner = {'os': {'ubuntu': 'Linux', 'macos': 'macOS',
                             'windows': 'Windows'}[runs_on.split('-')[0]]}
            context = {'matrix': cell, 'runner': runner, 'env': {}}
            env = {}
            for scope in (wf, job):
                for key, value in (scope.get('env') or {}).items():
                    env[key] = substitute(value, context)
                context['env'] = dict(env)
            for step in job['steps']:
                if 'run' not in step:
                    continue        # uses: an action, a cache: these need GitHub
                step_env = dict(env)
                for key, value in (step.get('env') or {}).items():
                    step_env[key] = substitute(value, dict(context, env=env))
                step_context = dict(context, env=step_env)
                name = substitute(step.get('name', step['run']), step_context)
                if not condition(step.get('if'), step_context):
                    continue
                found.append(dict(
                    job=job_id, cell=cell, os=runs_on, name=name,
                    script=substitute(step['run'], step_context),
                    shell=step.get('shell', defaults.get('shell')),
                    cwd=step.get('working-directory', defaults.get('working-directory', '.')),
                    env=step_env))
    return found


def where(step):
    return '%s %s: %r' % (step['job'], step['cell'] or '', step['name'])


def commands(script):
    """The script's commands, a line each (backslash continuations joined), as words."""
    joined = re.sub(r'\\\n', ' ', script)
    return [shlex.split(line, comments=True) for line in joined.splitlines()
            if line.strip() and not line.strip().startswith('#')]


def file_arguments(words):
    """The words that name files of the repository (a script, .ci/run)."""
    return [w for w in words if re.fullmatch(r'[\w.-]*(/[\w.-]+)+|[\w.-]+\.(py|sh)', w)
            and not w.startswith('-') and '://' not in w]


@functools.lru_cache(maxsize=None)
def pip_options():
    """pip install's options, from its own help: {name: takes a value}."""
    help_text = subprocess.run([sys.executable, '-m', 'pip', 'install', '--help'],
                               capture_output=True, text=True, timeout=120).stdout
    options = {}
    for line in help_text.splitlines():
        spec = re.match(r'^\s+(-\w(?:,\s+|\s))?(--[\w-]+)(=?\s?<[^>]+>)?', line)
        if spec:
            takes = bool(spec.group(3))
            options[spec.group(2)] = takes
            if spec.group(1):
                options[spec.group(1).strip(', ')] = takes
    assert '--upgrade' in options and options['--editable'], 'cannot read pip install --help'
    return options


def extras_of(project):
    """The optional-dependency groups a pyproject.toml declares."""
    text = (project / 'pyproject.toml').read_text(encoding='utf-8')
    table = re.search(r'^\[project\.optional-dependencies\]\s*$(.*?)(?=^\[|\Z)', text,
                      re.M | re.S)
    return set(re.findall(r'^([\w-]+)\s*=', table.group(1), re.M)) if table else set()


def check_install(words, cwd, options):
    """A ``pip install`` command, checked without installing anything."""
    at = words.index('install')
    args = iter(words[at + 1:])
    for word in args:
        if word.startswith('-'):
            name = word.split('=', 1)[0]
            assert name in options, 'pip install has no option %s' % name
            if name in ('-e', '--editable'):
                word = next(args)
                path = re.sub(r'\[.*\]$', '', word)
                assert (cwd / path / 'pyproject.toml').is_file(), 'no project at %s' % path
                wanted = set(Requirement('project' + word[len(path):]).extras)
                assert wanted <= extras_of(cwd / path), 'unknown extras %s' % (
                    wanted - extras_of(cwd / path))
            elif options[name] and '=' not in word:
                next(args)
        else:
            requirement = Requirement(word)     # raises on a malformed one
            for spec in requirement.specifier:
                assert re.fullmatch(r'\d+(\.\d+)*', spec.version), (word, spec.version)


def registered_markers(cwd, env):
    proc = subprocess.run([sys.executable, '-m', 'pytest', '--markers'], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT)
    return set(re.findall(r'^@pytest\.mark\.(\w+)', proc.stdout, re.M))


def marker_names(words):
    at = words.index('pytest')
    rest = words[at + 1:]
    expressions = [rest[i + 1] for i, w in enumerate(rest[:-1]) if w == '-m']
    return {name for e in expressions for name in re.findall(r'[A-Za-z_]\w*', e)
            if name not in ('and', 'or', 'not')}


def bash_parses(script):
    proc = subprocess.run(['bash', '-n'], input=script, capture_output=True, text=True,
                          timeout=60)
    return proc.returncode == 0, proc.stderr


needs_bash = pytest.mark.skipif(os.name == 'nt', reason='runs the Linux cells: needs bash')


# --- the reader itself, on a workflow of its own -----------------------------------------

def test_cells_expand_as_actions_expands_a_matrix():
    job = {'strategy': {'matrix': {
        'os': ['a', 'b'], 'py': ['1', '2'],
        'include': [{'os': 'a', 'extra': 'x'}, {'os': 'a', 'py': '1', 'tf': 'old'},
                    {'os': 'c', 'py': '9'}],
        'exclude': [{'os': 'b', 'py': '2'}]}}}
    assert cells(job) == [
        {'os': 'a', 'py': '1', 'extra': 'x', 'tf': 'old'}, {'os': 'a', 'py': '2', 'extra': 'x'},
        {'os': 'b', 'py': '1'}, {'os': 'c', 'py': '9'}]
    assert cells({}) == [{}]


def test_expressions_are_evaluated_or_refused():
    context = {'matrix': {'tf': 'newest'}, 'env': {'A': '1'}}
    assert condition("matrix.tf == 'newest'", context)
    assert not condition("${{ matrix.tf != 'newest' }}", context)
    assert condition("matrix.tf == 'x' || env.A == '1'", context)
    assert substitute('pip install "tensorflow==${{ matrix.tf }}"', context) == \
        'pip install "tensorflow==newest"'
    with pytest.raises(AssertionError, match='pyhton'):
        substitute('${{ matrix.pyhton }}', context)
    with pytest.raises(Unsupported):
        substitute("${{ hashFiles('x') }}", context)


# --- the workflow -----------------------------------------------------------------------

def check_every_run_step(options):
    """Each run: step of each cell parses, names files that exist, and installs sensibly."""
    steps = steps_of(workflow())
    assert {s['job'] for s in steps} == set(workflow()['jobs'])
    for step in steps:
        assert step['shell'] in SHELLS, '%s: shell %s' % (where(step), step['shell'])
        cwd = REPO_ROOT / step['cwd']
        assert cwd.is_dir(), '%s: no working directory %s' % (where(step), step['cwd'])
        ok, errors = bash_parses(step['script'])
        assert ok, '%s: bash cannot parse it: %s' % (where(step), errors)
        for words in commands(step['script']):
            for name in file_arguments(words):
                assert (cwd / name).exists(), '%s: no file %s' % (where(step), name)
            if INSTALL.search(' '.join(words)):
                try:
                    check_install(words, cwd, options)
                except Exception as e:
                    raise AssertionError('%s: %s' % (where(step), e)) from None
            if WHOLE_SUITE.search(' '.join(words)):
                ok, errors = bash_parses((cwd / '.ci' / 'run').read_text(encoding='utf-8'))
                assert ok, '.ci/run: bash cannot parse it: %s' % errors


def test_every_run_step_of_every_cell_parses_and_names_files_that_exist():
    check_every_run_step(pip_options())


@pytest.mark.parametrize('good, bad, message', [
    ('python mnist_data.py', 'python mnist_dta.py', 'no file mnist_dta.py'),
    ('-e ".[test]"', '-e ".[tset]"', "unknown extras {'tset'}"),
    ('"numpy<2"', '"numpy<<2"', 'Install TensorFlow 2.16.2'),
    ('--upgrade tensorflow', '--upgade tensorflow', 'no option --upgade'),
    ('run: bash .ci/run', 'run: bash .ci/run; fi', 'bash cannot parse it'),
], ids=['file', 'extra', 'requirement', 'pip-option', 'bash-syntax'])
def test_a_typo_in_a_step_is_caught(tmp_path, monkeypatch, good, bad, message):
    # The checks are not a rubber stamp: each of these edits of ci.yml fails them.
    original = CI.read_text(encoding='utf-8')
    assert good in original, good
    broken = tmp_path / 'ci.yml'
    broken.write_text(original.replace(good, bad, 1), encoding='utf-8')
    monkeypatch.setattr(sys.modules[__name__], 'CI', broken)
    with pytest.raises(AssertionError, match=re.escape(message)):
        check_every_run_step(pip_options())


@needs_bash
@pytest.mark.long
def test_the_linux_cells_run_their_steps(tmp_path, data_dir):
    repo = tmp_path / 'workspace'
    repo.mkdir()
    copy_of_the_repository(repo)
    (repo / 'MNIST_data').symlink_to(data_dir, target_is_directory=True)   # the MNIST cache
    shim = tmp_path / 'bin'
    shim.mkdir()
    (shim / 'python').write_text('#!/bin/sh\nexec "%s" "$@"\n' % sys.executable)
    (shim / 'python').chmod(0o755)
    base = dict(os.environ, CI='true', GITHUB_ACTIONS='true', RUNNER_OS='Linux',
                GITHUB_WORKSPACE=str(repo), PATH=str(shim) + os.pathsep + os.environ['PATH'])
    base.pop('PYTEST_CURRENT_TEST', None)

    steps = steps_of(workflow(), os_filter=lambda runs_on: runs_on.startswith('ubuntu'))
    done, ran, collections = set(), [], 0
    for step in steps:
        lines = commands(step['script'])
        text = ' '.join(' '.join(words) for words in lines)
        if INSTALL.search(text) or WHOLE_SUITE.search(text):
            continue        # checked by the test above; running them changes this environment
        env = dict(base, **step['env'])
        script = step['script']
        if PYTEST.search(text):
            asked = set().union(*(marker_names(w) for w in lines if 'pytest' in w))
            unknown = asked - registered_markers(repo / step['cwd'], env)
            assert not unknown, '%s: unregistered markers %s' % (where(step), unknown)
            script = '\n'.join(line + ' --collect-only' if PYTEST.search(line) else line
                               for line in script.splitlines())
        key = (script, step['shell'], step['cwd'], tuple(sorted(step['env'].items())))
        if key in done:
            continue        # the same command in another cell: run once
        done.add(key)
        path = tmp_path / ('step%d.sh' % len(done))
        path.write_text(script, encoding='utf-8')
        proc = subprocess.run(SHELLS[step['shell']] + [str(path)], cwd=repo / step['cwd'],
                              env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        assert proc.returncode == 0, '%s: exit %d\n%s%s' % (
            where(step), proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
        if PYTEST.search(text):
            collected = re.search(r'(\d+)(?:/\d+)? tests? collected|\[(\d+) items?\]',
                                  proc.stdout)       # the second: under pytest-xdist
            assert collected and int(collected.group(1) or collected.group(2)) > 0, \
                '%s: selects no tests\n%s' % (where(step), proc.stdout[-2000:])
            collections += 1
        else:
            ran.append(step['name'])
    assert ran and collections, (ran, collections)
