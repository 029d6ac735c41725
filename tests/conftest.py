"""Shared fixtures: the repository root and a verified MNIST data directory."""

import os
import pathlib
import subprocess
import sys
import time

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
# Test the working tree's modules, even when an older copy of the project is installed.
sys.path.insert(0, str(REPO_ROOT))

import mnist_data  # noqa: E402  (needs the path above)

# $MNIST_DATA_DIR or <repo>/MNIST_data; the data_dir fixture makes sure it is filled.
DATA_DIR = os.path.abspath(os.environ.get('MNIST_DATA_DIR') or REPO_ROOT / 'MNIST_data')


def run_script(script, *args, cwd=None, timeout=600):
    """Run one of the repository's scripts as a user would; the CompletedProcess."""
    return subprocess.run([sys.executable, str(REPO_ROOT / script), *map(str, args)],
                          cwd=cwd or REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def start_script_until(script, *args, line, timeout=300):
    """Start one of the repository's scripts and read its stdout until a line starting
    with ``line`` (or the timeout); the still-running Popen, for a test to signal."""
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / script), *map(str, args)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + timeout
    for text in proc.stdout:
        if text.startswith(line) or time.monotonic() > deadline:
            break
    return proc


@pytest.fixture(scope='session')
def repo_root():
    """The repository root as a pathlib.Path."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def data_dir():
    """Absolute path of a directory holding the four verified MNIST files.

    ``$MNIST_DATA_DIR`` or ``<repo>/MNIST_data``; fetched through the loader once per
    session, so the suite also runs from a fresh clone.
    """
    mnist_data.maybe_download(DATA_DIR)
    return DATA_DIR
