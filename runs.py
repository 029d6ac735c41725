"""What the scripts share about a run: flags, TensorFlow start-up, run directories.

- Command-line types: ``ArgumentParser`` (a usage error is one line, exit 2) and the
  checked argparse types (``positive_int``, ``probability``, ...).
- TensorFlow start-up: ``import_tf()`` (``tensorflow.compat.v1`` in graph mode, without
  its C++ start-up chatter) and ``new_session()``.
- Run directories: the ``train_data/<recipe>`` and ``logs/<recipe>`` defaults, checkpoint
  discovery from the files themselves, ``run.json``, the directory lock, the clean-up
  of partial files, and the progress line on stderr.
- Stopping: ``stop_signals_to()`` routes SIGINT and SIGTERM to one handler for a block.

TensorFlow is imported only when ``import_tf()`` is called, so a wrong flag is answered
at once.
"""

import argparse
import contextlib
import errno
import fcntl
import glob
import json
import math
import os
import platform
import re
import signal
import sys
import time

# tensorflow.compat.v1 once import_tf() has run.
tf = None

RUN_JSON = 'run.json'
CHECKPOINT_PREFIX = 'model.ckpt'
LOCK_FILE = '.lock'
DAMAGED_DIR = 'damaged'
_CHECKPOINT_INDEX = re.compile(r'^%s-(\d+)\.index$' % re.escape(CHECKPOINT_PREFIX))


class RunError(Exception):
    """A run cannot go on (its directory is taken, damaged or full); the message says why."""


# --- command-line types ------------------------------------------------------------

class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not the whole usage."""

    def error(self, message):
        self.exit(2, '%s: error: %s\n' % (self.prog, message))


def checked_type(convert, ok, what):
    """An argparse type: ``convert`` the text, then require ``ok(value)`` (``what`` says how)."""
    kind = 'an integer' if convert is int else 'a number'

    def parse(text):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError('%r is not %s' % (text, kind)) from None
        if not ok(value):
            raise argparse.ArgumentTypeError('%r: must be %s' % (text, what))
        return value
    parse.__name__ = what
    return parse


positive_int = checked_type(int, lambda v: v >= 1, 'an integer >= 1')
nonnegative_int = checked_type(int, lambda v: v >= 0, 'an integer >= 0')
positive_float = checked_type(float, lambda v: 0 < v < float('inf'), 'a number > 0')
probability = checked_type(float, lambda v: 0 < v <= 1, 'in (0, 1]')
seed_int = checked_type(int, lambda v: 0 <= v < 2 ** 32, 'an integer in [0, 2**32)')  # numpy's range


# --- TensorFlow start-up -------------------------------------------------------------

@contextlib.contextmanager
def native_stderr_muted():
    """Silence file descriptor 2 while TensorFlow's C++ side starts: its notes (absl's
    "All log messages before absl::InitializeLog()", oneDNN, the CUDA probe) ignore
    TF_CPP_MIN_LOG_LEVEL in TF 2.21 and would bury the tutorial's own lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tf():
    """Import tensorflow.compat.v1 in graph mode, without its start-up chatter."""
    global tf
    if tf is None:
        os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
        with native_stderr_muted():
            import tensorflow.compat.v1 as tf_v1
        tf_v1.disable_eager_execution()
        tf_v1.logging.set_verbosity(tf_v1.logging.ERROR)
        tf = tf_v1
    return tf


def cpu_flags():
    """The CPU's feature flags, as /proc/cpuinfo lists them (empty where it does not)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('flags'):
                    return set(line.split(':', 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_has_native_bf16():
    """Whether the CPU computes bfloat16 natively (AVX512_BF16 or AMX)."""
    return bool({'avx512_bf16', 'amx_bf16'} & cpu_flags())


def new_session(graph=None, interactive=False, config=None):
    """A tf.Session (or InteractiveSession) without the first session's CUDA probe
    message ("failed call to cuInit") on a machine with no GPU."""
    import_tf()
    with native_stderr_muted():
        return (tf.InteractiveSession if interactive else tf.Session)(graph=graph, config=config)


def tf_message(error):
    """A TensorFlow error's message on one line, without its guess at a cause."""
    text = getattr(error, 'message', None) or str(error)
    return ' '.join(text.split(': perhaps')[0].split())[:300]


# --- run directories -----------------------------------------------------------------

def default_checkpoint_dir(recipe):
    """Where a recipe's checkpoints and run.json go unless --checkpoint_dir says otherwise."""
    return os.path.join('train_data', recipe)


def default_log_dir(recipe):
    """Where a recipe's TensorBoard logs go unless --log_dir says otherwise."""
    return os.path.join('logs', recipe)


def checkpoints(checkpoint_dir):
    """[(step, prefix)] of the checkpoints in a directory, oldest first, found from the
    ``model.ckpt-N.index`` files themselves (the ``checkpoint`` state file may be gone)."""
    try:
        names = os.listdir(checkpoint_dir)
    except OSError:
        return []
    found = [(int(m.group(1)), os.path.join(checkpoint_dir, name[:-len('.index')]))
             for m, name in ((_CHECKPOINT_INDEX.match(n), n) for n in names) if m]
    return sorted(found)


def latest_checkpoint(checkpoint_dir):
    """The newest checkpoint prefix in a directory, or None."""
    found = checkpoints(checkpoint_dir)
    return found[-1][1] if found else None


def checkpoint_files(prefix):
    """The files that make up one checkpoint: its .index and .data-* shards."""
    return glob.glob(glob.escape(prefix) + '.index') + glob.glob(glob.escape(prefix) + '.data-*')


def remove_checkpoint(prefix):
    for path in checkpoint_files(prefix):
        os.remove(path)


def move_aside(prefix):
    """Move a damaged checkpoint into <dir>/damaged/, out of the way but not lost."""
    target = os.path.join(os.path.dirname(prefix), DAMAGED_DIR)
    os.makedirs(target, exist_ok=True)
    for path in checkpoint_files(prefix):
        os.replace(path, os.path.join(target, os.path.basename(path)))
    return target


def write_checkpoint_state(checkpoint_dir, prefixes):
    """The ``checkpoint`` state file that tf.train.latest_checkpoint reads, naming
    ``prefixes`` (oldest first; the last is the latest), written atomically."""
    names = [json.dumps(os.path.basename(p)) for p in prefixes]
    lines = ['model_checkpoint_path: %s' % names[-1]] if names else []
    lines += ['all_model_checkpoint_paths: %s' % n for n in names]
    write_atomically(os.path.join(checkpoint_dir, 'checkpoint'), '\n'.join(lines) + '\n')


def remove_partial_files(checkpoint_dir):
    """Delete what an interrupted save or write left behind: TensorFlow's
    ``*.tempstate*`` files, our ``*.tmp`` files, and .data shards without an .index.
    Returns the names removed."""
    try:
        names = os.listdir(checkpoint_dir)
    except OSError:
        return []
    complete = {name[:-len('.index')] for name in names if name.endswith('.index')}
    partial = [n for n in names if 'tempstate' in n or n.endswith('.tmp')
               or ('.data-' in n and n.split('.data-')[0] not in complete)]
    for name in partial:
        path = os.path.join(checkpoint_dir, name)
        if os.path.isfile(path):
            os.remove(path)
    return partial


def write_atomically(path, text):
    """Write ``text`` to ``path`` through a temporary file: a reader (or a crash) sees the
    old content or the new, never half of it. A failed write removes the temporary."""
    tmp = path + '.tmp'
    try:
        with open(tmp, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def read_run_json(checkpoint_dir, warn=True):
    """run.json beside the checkpoints as a dict, or {} when there is none. A malformed
    one (not JSON, not an object) is reported in one line on stderr and treated as absent."""
    path = os.path.join(checkpoint_dir, RUN_JSON)
    try:
        with open(path) as f:
            record = json.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        record, problem = None, str(e)
    else:
        problem = 'not a JSON object'
    if isinstance(record, dict):
        return record
    if warn:
        print('warning: ignoring %s: %s' % (path, problem), file=sys.stderr)
    return {}


def write_run_json(checkpoint_dir, record):
    write_atomically(os.path.join(checkpoint_dir, RUN_JSON), json.dumps(record, indent=2) + '\n')


@contextlib.contextmanager
def locked(checkpoint_dir):
    """Own ``checkpoint_dir`` for the life of a run: an flock on <dir>/.lock, which the OS
    drops when the process dies, however it dies. A second run there is refused."""
    try:
        os.makedirs(checkpoint_dir, exist_ok=True)
        fd = os.open(os.path.join(checkpoint_dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise RunError('cannot use %s as a checkpoint directory: %s'
                       % (checkpoint_dir, e.strerror or e)) from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            owner = os.pread(fd, 64, 0).decode(errors='replace').strip() or 'unknown'
            raise RunError('%s is in use by another run (pid %s); wait for it to finish or '
                           'choose another --checkpoint_dir' % (checkpoint_dir, owner)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)   # closing the descriptor releases the lock


@contextlib.contextmanager
def stop_signals_to(handler):
    """In the block, SIGINT and SIGTERM go to ``handler``, even where a shell left SIGINT
    ignored (a background job); the handlers from before come back however it is left."""
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, earlier in previous.items():
            signal.signal(sig, earlier)


# --- progress on stderr ------------------------------------------------------------

def duration(seconds):
    """'1h05m', '7m05s', '42s', or '?' for an unknown time."""
    if seconds is None or not math.isfinite(seconds):
        return '?'
    seconds = int(round(seconds))
    if seconds >= 3600:
        return '%dh%02dm' % (seconds // 3600, seconds % 3600 // 60)
    return '%dm%02ds' % divmod(seconds, 60) if seconds >= 60 else '%ds' % seconds


class Progress:
    """Steps/s and ETA on stderr: a live line on a terminal, else a line every 30 s."""

    def __init__(self, start, total, stream=None):
        self.start, self.total, self.stream = start, total, stream or sys.stderr
        self.tty = self.stream.isatty()
        self.interval = 1.0 if self.tty else 30.0
        self.t0 = self.last = time.monotonic()

    def update(self, step):
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = (step - self.start) / (now - self.t0)
        eta = (self.total - step) / rate if rate > 0 else float('inf')
        line = 'step %d/%d  %.1f steps/s  ETA %s' % (step, self.total, rate, duration(eta))
        self.stream.write('\r' + line + '\x1b[K' if self.tty else line + '\n')
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write('\r\x1b[K')
            self.stream.flush()
