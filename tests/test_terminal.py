"""What a learner sees in a terminal: the tutorial's lines on stdout and the live progress
line on stderr share one screen, and no step line is ever drawn behind the progress."""

import os
import re
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pty = pytest.importorskip('pty')    # a pseudo-terminal: Linux and macOS

STEP_LINE = re.compile(r'^step \d+, training accuracy [0-9.e-]+$')


def rendered(raw):
    """The lines a terminal shows for ``raw`` output: carriage returns go back to the
    line's start, ESC[K erases from the cursor to the line's end."""
    lines, line, cursor = [], [], 0
    for token in re.findall(r'\x1b\[K|\r\n|\n|\r|[^\r\n\x1b]|\x1b', raw):
        if token in ('\n', '\r\n'):
            lines.append(''.join(line))
            line, cursor = [], 0
        elif token == '\r':
            cursor = 0
        elif token == '\x1b[K':
            del line[cursor:]
        else:
            line[cursor:cursor + 1] = [token]
            cursor += 1
    if line:
        lines.append(''.join(line))
    return lines


def test_rendering_as_a_terminal_does():
    assert rendered('step 3/9  ETA 2s\r\x1b[Kstep 4, training accuracy 1\n') == [
        'step 4, training accuracy 1']
    assert rendered('step 3/9  ETA 2sstep 4, x\n') == ['step 3/9  ETA 2sstep 4, x']


@pytest.mark.long
def test_step_lines_are_whole_under_a_pseudo_terminal(data_dir, tmp_path):
    controller, terminal = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / 'deep_cnn.py'), '--data_dir', data_dir,
         '--checkpoint_dir', tmp_path / 'ckpt', '--log_dir', tmp_path / 'logs',
         '--steps', '150', '--log_every', '5', '--batch_size', '10'],   # small: cheap steps
        cwd=REPO_ROOT, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal)
    os.close(terminal)
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:     # the child has closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(controller)
    assert proc.wait(timeout=60) == 0
    raw = b''.join(chunks).decode()
    assert 'steps/s' in raw                 # the live progress line was drawn
    steps = [line for line in rendered(raw) if 'training accuracy' in line]
    assert len(steps) == 30
    assert [line for line in steps if not STEP_LINE.match(line)] == []
    assert rendered(raw)[-1].startswith('test accuracy ')
