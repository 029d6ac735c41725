"""The commands of the README and of the docs/ pages work exactly as written.

The convention, as docs/testing.md states it: in a ```sh block a line is a command (a
trailing backslash continues it), and the comment lines right under it say what it
must do:

    .venv/bin/python deep_cnn.py --steps 300
    # prints: test accuracy 0.92…      a line of stdout or stderr starts with this text
    # exit: 1                          its exit status (without this line, 0)

A ``# prints:`` line ending in ``…`` shows the start of a line; one without it shows a
whole line in README.md, and part of one (any part) in the docs pages.

A command whose own line carries ``# (long: ...)`` takes over a minute and is not run;
nor are the install commands (``python3 -m venv``, ``pip install``), which .ci/run
covers. Every other command must have a ``# prints:`` line. ```python blocks are run
whole with ``.venv/bin/python``.

The pages run in the order of ``pages()``: README.md first, then the docs/ pages in
DOCS_ORDER, then any other docs page by name; within a page, top to bottom. So a later
command may use what an earlier one made (the quick start's checkpoint). Each runs with
bash and a timeout, in a temporary copy of the repository set up as the quick start
says, with two shortcuts: ``.venv`` links to this repository's ``.venv`` (no new
install) and ``MNIST_data`` to the tests' verified data.
"""

import dataclasses
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import REPO_ROOT

README = REPO_ROOT / 'README.md'
DOCS = REPO_ROOT / 'docs'
# The docs pages in the order their commands run (after README.md). Each runs after the
# README's quick start, whose checkpoint (train_data/expert) several of them use.
DOCS_ORDER = ('mnist_data.md', 'softmax_baseline.md', 'deep_cnn.md',
              'visualize_filters.md', 'faults.md', 'fast.md', 'reproduction.md',
              'performance.md', 'testing.md')
TIMEOUT_S = 600           # per command: "under a minute" idle, a busy machine runs ~4x slower
INSTALL = re.compile(r'(^|\s)(python3? -m venv|\S*pip install)\b')
LONG = re.compile(r'#\s*\(long\b')
PRINTS = re.compile(r'^#\s*prints:\s?(.*)$')
EXIT = re.compile(r'^#\s*exit:\s*(\d+)\s*$')
# `python` or `python3` as a command of its own: not .venv/bin/python, nor a ```python fence.
BARE_PYTHON = re.compile(r'(?<![\w/.-])(?<!```)python3?(?=[ \t])')
# A markdown link [text](target) or image ![text](target); the target up to ) or space.
LINK = re.compile(r'\]\(([^)\s]+)\)')
ELLIPSIS = '…'


def pages():
    """README.md, then the docs pages: those in DOCS_ORDER, then the rest by name."""
    found = sorted(DOCS.glob('*.md')) if DOCS.is_dir() else []
    ordered = [DOCS / name for name in DOCS_ORDER if (DOCS / name).exists()]
    return [README] + ordered + [p for p in found if p not in ordered]


def name_of(page):
    return page.relative_to(REPO_ROOT).as_posix()


@dataclasses.dataclass
class Snippet:
    """One thing a page tells the reader to run."""
    page: str                 # 'README.md', 'docs/deep_cnn.md', ...
    line: int                 # where it starts in the page, 1-based
    kind: str                 # 'sh' or 'python'
    text: str
    prints: list = dataclasses.field(default_factory=list)
    exit: int = 0

    @property
    def long(self):
        return self.kind == 'sh' and bool(LONG.search(self.text))

    @property
    def install(self):
        return self.kind == 'sh' and bool(INSTALL.search(self.text))

    @property
    def runs(self):
        return not (self.long or self.install)

    def __str__(self):
        return '%s:%d: %s' % (self.page, self.line, self.text.splitlines()[0])


def code_blocks(text, page='README.md'):
    """(language, first line number, [lines]) of each fenced block, in order."""
    blocks, lang, start, lines = [], None, 0, []
    for n, line in enumerate(text.splitlines(), 1):
        fence = re.match(r'^```\s*(\S*)', line)
        if fence and lang is None:
            lang, start, lines = fence.group(1) or 'text', n + 1, []
        elif fence and line.strip() == '```':
            blocks.append((lang, start, lines))
            lang = None
        elif lang is not None:
            lines.append(line)
    assert lang is None, '%s: a code block opened at line %d is never closed' % (page, start)
    return blocks


def snippets(text, page='README.md'):
    """The commands of the ```sh blocks and the ```python blocks, in page order."""
    found = []
    for lang, start, lines in code_blocks(text, page):
        if lang == 'python':
            found.append(Snippet(page, start, 'python', '\n'.join(lines) + '\n'))
        if lang != 'sh':
            continue
        current, continued = None, False
        for n, line in enumerate(lines, start):
            stripped = line.strip()
            if continued:
                current.text += '\n' + line
                continued = stripped.endswith('\\')
            elif not stripped:
                current = None
            elif stripped.startswith('#'):
                prints, exit_ = PRINTS.match(stripped), EXIT.match(stripped)
                if (prints or exit_) and current is None:
                    raise AssertionError('%s:%d: %r belongs under a command' % (page, n, line))
                if prints:
                    current.prints.append(prints.group(1).strip())
                elif exit_:
                    current.exit = int(exit_.group(1))
            else:
                current = Snippet(page, n, 'sh', line)
                found.append(current)
                continued = stripped.endswith('\\')
    return found


def all_snippets():
    """Every page's snippets, in the order they run."""
    return [s for page in pages() for s in snippets(page.read_text(), name_of(page))]


def anchor(heading):
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to -."""
    return re.sub(r'[^\w\- ]', '', heading.strip().lower()).replace(' ', '-')


def anchors(text):
    """The anchors of a page's headings (outside code blocks)."""
    found, fenced = set(), False
    for line in text.splitlines():
        if line.startswith('```'):
            fenced = not fenced
        elif not fenced and re.match(r'^#{1,6} ', line):
            found.add(anchor(line.lstrip('#')))
    return found


def broken_links(page):
    """The page's links to files or headings of this repository that do not exist."""
    text, problems = page.read_text(), []
    for n, line in enumerate(text.splitlines(), 1):
        for target in LINK.findall(line):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target):        # http:, https:, mailto:
                continue
            path, _, fragment = target.partition('#')
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                problems.append('%s:%d: link to %s: no such file' % (name_of(page), n, target))
            elif fragment and linked.suffix == '.md' and fragment not in anchors(
                    linked.read_text()):
                problems.append('%s:%d: link to %s: no such heading' % (name_of(page), n, target))
    return problems


def test_the_pages_follow_their_own_conventions():
    """One way of running things (.venv/bin/python, never a bare python), every command
    either checked or marked long, every docs page reachable from the README and every
    link whole; quick, so it runs in every test loop."""
    problems = []
    for page in pages():
        name, text = name_of(page), page.read_text()
        problems += ['%s:%d: bare %r: use .venv/bin/python' % (name, n, line.strip())
                     for n, line in enumerate(text.splitlines(), 1)
                     for match in BARE_PYTHON.finditer(line)
                     if not line[match.start():].startswith(('python3 -m venv',
                                                             'python -m venv'))]
        problems += ['%s:%d: a ```%s block: write commands in ```sh blocks, which the '
                     'README test runs' % (name, start - 1, lang)
                     for lang, start, _ in code_blocks(text, name)
                     if lang in ('bash', 'shell', 'console', 'zsh', 'shell-session')]
        problems += ['%s: no "# prints:" line and no "(long: ...)" mark' % s
                     for s in snippets(text, name)
                     if s.kind == 'sh' and s.runs and not s.prints]
        problems += broken_links(page)
    readme_links = {(README.parent / target.partition('#')[0]).resolve()
                    for target in LINK.findall(README.read_text())}
    problems += ['README.md does not link to %s' % name_of(page)
                 for page in pages()[1:] if page.resolve() not in readme_links]
    problems += ['DOCS_ORDER names docs/%s, which does not exist' % name
                 for name in DOCS_ORDER if not (DOCS / name).exists()]
    assert not problems, '\n'.join(problems)
    assert [s for s in snippets(README.read_text()) if s.runs], \
        'no runnable command found in README.md'


def shows(expected, line, page):
    """Whether a "# prints: EXPECTED" line shows this line of output: its start if
    EXPECTED ends in an ellipsis, else the whole line (any part of it in docs/)."""
    line = line.strip()
    if expected.endswith(ELLIPSIS):
        return line.startswith(expected[:-len(ELLIPSIS)])
    return expected == line if page == 'README.md' else expected in line


def test_a_prints_line_shows_a_whole_line_or_its_start():
    assert shows('test accuracy 0.92…', 'test accuracy 0.9231', 'README.md')
    assert not shows('test accuracy 0.92…', 'step 1, test accuracy 0.92', 'README.md')
    assert not shows('test accuracy 0.9', 'test accuracy 0.9231', 'README.md')
    assert shows('test accuracy 0.9', 'test accuracy 0.9231', 'docs/deep_cnn.md')
    assert shows('wrote figures/conv1.png', '  wrote figures/conv1.png', 'README.md')


def test_the_readme_reads_in_five_minutes():
    """Issue 34's front page: short, a picture first, nothing to scroll sideways, the
    machine named once (a CPU model at most twice)."""
    lines = README.read_text().splitlines()
    assert len(lines) <= 130, 'README.md has %d lines, over 130' % len(lines)
    assert any(line.startswith('![') for line in lines[:25]), 'no picture in its first 25 lines'
    problems = ['README.md:%d: %d characters, over 160' % (n, len(line))
                for n, line in enumerate(lines, 1) if len(line) > 160]
    problems += ['README.md:%d: %d characters in a code block, over 90' % (n, len(line))
                 for _, start, block in code_blocks('\n'.join(lines))
                 for n, line in enumerate(block, start) if len(line) > 90]
    assert not problems, '\n'.join(problems)
    models = re.findall(r'EPYC|Xeon|Ryzen|Core i\d|Apple M\d', README.read_text())
    assert len(models) <= 2, 'README.md names a CPU model %d times: %s' % (len(models), models)


def copy_of_the_repository(target):
    """The files git tracks in the repository, and those it would (untracked, not
    ignored), copied into target: what a fresh clone of the working tree holds."""
    try:
        listed = subprocess.run(
            ['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'],
            cwd=REPO_ROOT, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip('not a git checkout: cannot tell which files a clone holds')
    for name in filter(None, listed.decode().split('\0')):
        source = REPO_ROOT / name
        if source.is_file() and not source.is_symlink():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def run(snippet, cwd, env):
    """Run one snippet as its page says; (CompletedProcess, seconds)."""
    if snippet.kind == 'python':
        args = [str(cwd / '.venv' / 'bin' / 'python'), '-c', snippet.text]
    else:
        args = ['bash', '-c', snippet.text]
    t0 = time.monotonic()
    try:
        proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail('%s: still running after %d s: shorten it, or mark it '
                    '"# (long: ...)"' % (snippet, TIMEOUT_S))
    return proc, time.monotonic() - t0


def failure(snippet, proc, why):
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-20:]
    return '%s\n%s\n--- its output, last lines ---\n%s' % (snippet, why, '\n'.join(tail))


@pytest.mark.long
def test_the_commands_of_the_readme_and_docs_work_as_written(tmp_path, data_dir):
    venv = REPO_ROOT / '.venv'
    if not (venv / 'bin' / 'python').exists():
        pytest.skip('no .venv in the repository: create it as the quick start says '
                    '(bash .ci/run does)')
    repo = tmp_path / 'deep-mnist'
    repo.mkdir()
    copy_of_the_repository(repo)
    # The two shortcuts: the installed environment and the verified data.
    (repo / '.venv').symlink_to(venv, target_is_directory=True)
    (repo / 'MNIST_data').symlink_to(data_dir, target_is_directory=True)
    # A fresh shell: the data where the quick start puts it, no paths from this process.
    env = {k: v for k, v in os.environ.items()
           if k not in ('MNIST_DATA_DIR', 'PYTHONPATH', 'VIRTUAL_ENV', 'PYTHONHOME')}

    ran = []
    for snippet in all_snippets():
        if not snippet.runs:
            continue
        proc, seconds = run(snippet, repo, env)
        ran.append((seconds, snippet))
        print('%6.1f s  %s' % (seconds, snippet))
        if proc.returncode != snippet.exit:
            pytest.fail(failure(snippet, proc, 'exit status %d, the page says %d'
                                % (proc.returncode, snippet.exit)))
        lines = (proc.stdout + '\n' + proc.stderr).splitlines()
        for expected in snippet.prints:
            if not any(shows(expected, line, snippet.page) for line in lines):
                pytest.fail(failure(snippet, proc, 'no line is shown by %r' % expected))
    assert ran, 'no runnable command found in README.md or docs/'
    print('%6.1f s  all %d commands' % (sum(s for s, _ in ran), len(ran)))
