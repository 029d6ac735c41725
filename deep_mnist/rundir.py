"""A run's directories: defaults, the lock by which a run owns its checkpoint directory,
atomic writes, and the clean-up of what an interrupted write left behind."""

import contextlib
import glob
import json
import os
import pathlib
import warnings

with warnings.catch_warnings():   # where filelock finds neither fcntl nor msvcrt, it warns
    warnings.simplefilter('ignore')
    import filelock

OWNER_FILE = '.lock.owner'    # the pid of the run holding the lock, for the refusal line


class RunError(Exception):
    """A run cannot go on (its directory is taken, damaged or full)."""


def default_checkpoint_dir(recipe):
    return os.path.join('train_data', recipe)


def write_atomically(path, text):
    """A reader (or a crash) sees the old content of ``path`` or the new, never half."""
    tmp = pathlib.Path(path + '.tmp')
    try:
        tmp.write_text(text, encoding='utf-8')
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path, value, indent=2):
    write_atomically(path, json.dumps(value, indent=indent) + '\n')


def remove_partial_files(directory):
    """Delete (and return the names of) what an interrupted save or write left behind:
    TensorFlow's ``*.tempstate*``, our ``*.tmp``, and .data shards without an .index."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    complete = {name[:-len('.index')] for name in names if name.endswith('.index')}
    partial = [n for n in names if 'tempstate' in n or n.endswith('.tmp')
               or ('.data-' in n and n.split('.data-')[0] not in complete)]
    for path in (os.path.join(directory, name) for name in partial):
        if os.path.isfile(path):
            os.remove(path)
    return partial


def remove_matching(patterns):
    for path in (path for pattern in patterns for path in glob.glob(pattern)):
        os.remove(path)


@contextlib.contextmanager
def locked(directory):
    """Own ``directory`` for the block; a second run there is refused with RunError. The
    OS's lock (filelock: flock, LockFileEx) goes when the process dies, however it dies."""
    try:
        os.makedirs(directory, exist_ok=True)
        lock = filelock.FileLock(os.path.join(directory, '.lock'), timeout=0)
        lock.acquire()
    except filelock.Timeout:
        owner = 'unknown'
        with contextlib.suppress(OSError), open(os.path.join(directory, OWNER_FILE)) as f:
            owner = f.read().strip() or owner
        raise RunError('%s is in use by another run (pid %s); wait for it to finish or '
                       'choose another --checkpoint_dir' % (directory, owner)) from None
    except OSError as e:
        raise RunError('cannot use %s as a checkpoint directory: %s'
                       % (directory, e.strerror or e)) from None
    try:
        with contextlib.suppress(OSError):    # the pid only serves the refusal line
            write_atomically(os.path.join(directory, OWNER_FILE), str(os.getpid()))
        yield
    finally:
        lock.release()
