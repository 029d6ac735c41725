"""Stop signals: SIGINT (Ctrl-C) everywhere, SIGTERM where the platform has it, routed to
one handler for a block, so a run can finish its step, save and say where. And the
reader of stdout going away (``deep_cnn.py | head -3``): printing stops, the run does not.
"""

import contextlib
import errno
import os
import signal
import sys

# Windows has SIGTERM in the signal module but never delivers it to Python; it is
# harmless to route there, and Ctrl-C arrives as SIGINT on every platform.
STOP_SIGNALS = tuple(s for s in (getattr(signal, 'SIGINT', None), getattr(signal, 'SIGTERM', None))
                     if s is not None)


@contextlib.contextmanager
def stop_signals_to(handler):
    """In the block, SIGINT and SIGTERM go to ``handler``, even where a shell left SIGINT
    ignored (a background job); the handlers from before come back however it is left."""
    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, earlier in previous.items():
            signal.signal(sig, earlier)


class StopRequest:
    """A SIGINT or SIGTERM, noted so the run stops after the current step and saves.
    A second one raises KeyboardInterrupt at once."""

    def __init__(self, signum=None):
        self.signum = signum
        self.done = False       # once the work is over, a signal changes nothing

    def __call__(self, signum, frame):
        if self.done:
            return
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum

    def __bool__(self):
        return self.signum is not None

    @property
    def name(self):
        return signal.Signals(self.signum).name if self.signum else None


# A signal that came while a script ran outside stop_requests (see exit_quietly).
_held = StopRequest()


def _hold(signum, frame):
    if _held.signum is None:
        _held.signum = signum


@contextlib.contextmanager
def stop_requests():
    """A StopRequest that handles SIGINT and SIGTERM for the block; it starts out
    signalled if one came before the block, while exit_quietly held them."""
    stop = StopRequest(_held.signum)
    _held.signum = None
    with stop_signals_to(stop):
        yield stop


def _reader_gone(error):
    """A write failed because nobody reads stdout any more: EPIPE (Python ignores SIGPIPE,
    so a closed pipe is an error, not a signal), or EINVAL, Windows' word for it."""
    return isinstance(error, BrokenPipeError) or getattr(error, 'errno', None) in (
        errno.EPIPE, errno.EINVAL)


class _QuietWhenClosed:
    """sys.stdout, but once its reader has gone every write goes to the null device: the
    tutorial's lines are for a reader, the run's work (checkpoints, run.json) is not."""

    def __init__(self, stream):
        self._stream = stream
        self.reader_gone = False

    def write(self, text):
        if not self.reader_gone:
            try:
                return self._stream.write(text)
            except OSError as e:
                if not _reader_gone(e):
                    raise
                self._to_null()
        return len(text)

    def flush(self):
        if not self.reader_gone:
            try:
                self._stream.flush()
            except OSError as e:
                if not _reader_gone(e):
                    raise
                self._to_null()

    def _to_null(self):
        """Point stdout's file descriptor at the null device, so what is still buffered
        (and Python's flush at exit) goes nowhere instead of failing again."""
        self.reader_gone = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(null, self._stream.fileno())
            finally:
                os.close(null)
            self._stream.flush()
        except (OSError, ValueError):   # no descriptor (an in-memory stream): drop it all
            pass

    def __getattr__(self, name):
        return getattr(self._stream, name)


def quiet_if_stdout_closes(main):
    """Run ``main()`` and return its exit code; if the reader of stdout goes away (a pipe
    into ``head``), printing stops without an error and ``main`` carries on to its end,
    with its own exit code."""
    original = sys.stdout
    if original is None or isinstance(original, _QuietWhenClosed):
        return main()
    guard = sys.stdout = _QuietWhenClosed(original)
    try:
        return main()
    finally:
        guard.flush()           # nothing left for the flush at exit to fail on
        if sys.stdout is guard:
            sys.stdout = original


def exit_quietly(main):
    """Run a script's ``main()`` and return its exit code, with SIGINT and SIGTERM held for
    the whole life of the process: one that lands before ``main`` has set up its own
    handling is passed on to it (stop_requests); one that lands after ``main`` has
    returned (while Python tears down) no longer kills a run that has finished, nor
    prints "Exception ignored in: <module 'threading'>". A closed stdout stops the
    printing, not the run (quiet_if_stdout_closes)."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _hold)
    code = quiet_if_stdout_closes(main)
    _held.signum = None
    return code
