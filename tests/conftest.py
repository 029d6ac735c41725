"""Shared fixtures: the repository root, a verified MNIST data directory, and short real
training runs made once per session; helpers that run a script as a user would (a new
process) or call its main() here (no new Python, no TensorFlow start-up)."""

import contextlib
import io
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
# Test the working tree's modules, even when an older copy of the project is installed.
sys.path.insert(0, str(REPO_ROOT))

import deep_cnn  # noqa: E402  (needs the path above; imports TensorFlow only when asked)
import mnist_data  # noqa: E402
import softmax_baseline  # noqa: E402

# $MNIST_DATA_DIR or <repo>/MNIST_data; the data_dir fixture makes sure it is filled.
DATA_DIR = os.path.abspath(os.environ.get('MNIST_DATA_DIR') or REPO_ROOT / 'MNIST_data')


# The longest single tests run first. Under pytest-xdist (.ci/run: two workers, a module
# to a worker) a long module that starts last keeps one worker busy while the other
# waits; started first, the rest of the suite fills the other worker meanwhile.
LONGEST_FIRST = ('test_readme.py', 'test_notebook.py')


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: item.path.name not in LONGEST_FIRST)   # a stable sort


def event_tags(directory):
    """({tag: number of values}, whether a graph was written) over a writer directory."""
    from deep_mnist import events
    counts, has_graph = {}, False
    for path in events.event_files(directory):
        for event in events.events(path):
            has_graph |= bool(event.graph_def)
            for value in event.summary.value:
                counts[value.tag] = counts.get(value.tag, 0) + 1
    return counts, has_graph


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


# --- a script's main() in this process ---------------------------------------------------

class Ran:
    """What a script did when its main() was called here: as subprocess.CompletedProcess
    has it (returncode, stdout, stderr), without a new Python and TensorFlow start-up."""

    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr

    def __repr__(self):
        return 'Ran(returncode=%r, stderr=%r)' % (self.returncode, self.stderr[-2000:])


@contextlib.contextmanager
def _fd_captured(fd):
    """What is written to file descriptor ``fd`` in the block (TensorFlow's C++ side
    writes there, not to sys.stderr): a list that holds that text after the block."""
    text = []
    with tempfile.TemporaryFile() as tmp:
        stream = sys.stdout if fd == 1 else sys.stderr
        stream.flush()
        saved = os.dup(fd)
        os.dup2(tmp.fileno(), fd)
        try:
            yield text
        finally:
            stream.flush()
            os.dup2(saved, fd)
            os.close(saved)
            tmp.seek(0)
            text.append(tmp.read().decode(errors='replace'))


def call_main(main, *args, cwd=None):
    """``main(argv)`` of one of the scripts, as ``python script.py args`` runs it from
    ``cwd`` (default: the repository): a Ran with its exit code (a SystemExit's too, as
    argparse's 2) and everything it printed, by Python or by native code."""
    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(cwd or REPO_ROOT)
    try:
        with _fd_captured(1) as native_out, _fd_captured(2) as native_err, \
                contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as e:
                code = e.code
            if code is None:
                code = 0
            elif not isinstance(code, int):      # sys.exit('message'): printed, status 1
                print(code, file=sys.stderr)
                code = 1
    finally:
        os.chdir(here)
    return Ran(code, ''.join(native_out) + out.getvalue(), ''.join(native_err) + err.getvalue())


# --- a short test split, for runs whose test is not about accuracy --------------------

SHORT_TEST_SPLIT = 1000


@pytest.fixture
def short_test_split(monkeypatch):
    """Runs called in this process (deep_cnn.main, visualize_filters.main, ...) read MNIST
    with the test split cut to its first SHORT_TEST_SPLIT real images: for the tests of a
    run's files, signals, faults and flags, where the full test pass (~2.5 s of CPU for
    10000 images) would be most of a short run's cost. The accuracy claims are tested on
    all 10000 (expert_run, the notebook, the README's commands)."""
    read = mnist_data.read_data_sets

    def read_with_a_short_test_split(*args, **kwargs):
        data = read(*args, **kwargs)
        test = data.test
        assert str(test.images.dtype) == 'float32', 'short_test_split reads float32 images'
        return data._replace(test=mnist_data.DataSet(      # float32 in [0, 1]: back to 0-255
            test.images[:SHORT_TEST_SPLIT] * 255, test.labels[:SHORT_TEST_SPLIT], one_hot=True))
    monkeypatch.setattr(mnist_data, 'read_data_sets', read_with_a_short_test_split)


# --- short real runs, trained once per session ----------------------------------------------
# Tests that change a run's directory copy it first (shutil.copytree into tmp_path).

@contextlib.contextmanager
def _held(path):
    """An exclusive lock on the file ``path`` for the block: where pytest-xdist's workers
    share a run, the first to ask makes it while the others wait. (No fcntl on Windows,
    where the project's CI runs no workers: nothing to share.)"""
    try:
        import fcntl
    except ImportError:
        yield
        return
    with open(path, 'a') as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def made_once(tmp_path_factory, name, make):
    """``make(directory)``, a function that trains into ``directory`` and returns its Ran,
    run once for the whole test run (also across pytest-xdist workers, in the directory
    they share): (the directory, the Ran), which is stored beside it as JSON."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get('PYTEST_XDIST_WORKER'):
        root = root.parent
    directory, saved = root / name, root / (name + '.ran.json')
    with _held(root / (name + '.lock')):
        if not saved.exists():
            shutil.rmtree(directory, ignore_errors=True)   # what a failed attempt left
            directory.mkdir()
            saved.write_text(json.dumps(vars(make(directory))), encoding='utf-8')
    ran = Ran(**json.loads(saved.read_text(encoding='utf-8')))
    assert ran.returncode == 0, ran.stderr
    return directory, ran


EXPERT_STEPS = 300


@pytest.fixture(scope='session')
def expert_run(data_dir, tmp_path_factory):
    """deep_cnn.py's tutorial recipe for 300 seeded steps (seed 1), a step line and
    TensorBoard scalars every 20 steps, checkpoints at 100, 200 and 300: (the run's
    directory, holding ckpt/ and logs/; the Ran)."""
    return made_once(tmp_path_factory, 'expert', lambda base: call_main(
        deep_cnn.main, '--steps', EXPERT_STEPS, '--seed', 1, '--log_every', 20,
        '--summary_every', 20, '--checkpoint_every', 100, '--data_dir', data_dir,
        '--checkpoint_dir', base / 'ckpt', '--log_dir', base / 'logs'))


@pytest.fixture(scope='session')
def fast_run(data_dir, tmp_path_factory):
    """deep_cnn.py --recipe fast for 20 seeded steps: (its directory, the Ran)."""
    return made_once(tmp_path_factory, 'fast', lambda base: call_main(
        deep_cnn.main, '--recipe', 'fast', '--steps', 20, '--seed', 1, '--log_every', 20,
        '--summary_every', 20, '--data_dir', data_dir, '--checkpoint_dir', base / 'ckpt',
        '--log_dir', base / 'logs'))


FAST_CLASSIFIER_STEPS = 300  # 99.0 % of classify's photo set (150 steps: 97.7 %), ~30 s


@pytest.fixture(scope='session')
def fast_classifier(data_dir, tmp_path_factory):
    """A `fast` checkpoint good enough to read handwriting (FAST_CLASSIFIER_STEPS seeded
    steps), shared by classify.py's and the drawing page's tests: its directory."""
    base, _ = made_once(tmp_path_factory, 'fast_classifier', lambda base: call_main(
        deep_cnn.main, '--recipe', 'fast', '--steps', FAST_CLASSIFIER_STEPS, '--seed', 1,
        '--log_every', 0, '--summary_every', 0, '--data_dir', data_dir,
        '--checkpoint_dir', base / 'ckpt', '--log_dir', base / 'logs'))
    return base / 'ckpt'


@pytest.fixture(scope='session')
def softmax_run(data_dir, tmp_path_factory):
    """softmax_baseline.py's expert recipe with --seed 7 and a --record: (the record's
    directory, where it is run.json; the Ran)."""
    return made_once(tmp_path_factory, 'softmax', lambda base: call_main(
        softmax_baseline.main, '--data_dir', data_dir, '--seed', 7,
        '--record', base / 'run.json'))


def handles_sigterm_soon(proc, timeout=60):
    """Wait until ``proc`` catches SIGTERM (its script's first act, before TensorFlow is
    imported): on Linux, /proc/PID/status's SigCgt mask, so a loaded machine's slow Python
    start-up cannot make the signal land before the handler; elsewhere half a second."""
    status = '/proc/%d/status' % proc.pid
    if not os.path.exists(status):
        time.sleep(0.5)
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with open(status, encoding='ascii') as f:
            caught = next(int(line.split()[1], 16) for line in f if line.startswith('SigCgt:'))
        if caught >> (signal.SIGTERM - 1) & 1:
            return
        time.sleep(0.005)
