"""Stop signals (SIGINT, and SIGTERM where the platform has it) routed to one handler for
a block, so a run can finish its step, save and say where; and the reader of stdout
going away (``deep_cnn.py | head -3``): printing stops, the run does not."""

import contextlib
import errno
import os
import signal
import sys

# Windows has SIGTERM in the signal module but never delivers it to Python; it is
# harmless to route there, and Ctrl-C arrives as SIGINT on every platform.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A stop signal turned into an exception: its exit code is 128 + ``signum``."""

    def __init__(self, signum=signal.SIGINT):
        super().__init__()
        self.signum = signum


def interrupt(signum, frame):
    """A handler for stop_signals_to that ends the work at once."""
    raise Interrupted(signum)


@contextlib.contextmanager
def stop_signals_to(handler):
    """In the block, SIGINT and SIGTERM go to ``handler``, even where a shell left SIGINT
    ignored (a background job)."""
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
    """A StopRequest for the block, signalled already if a signal came while exit_quietly
    held them."""
    stop = StopRequest(_held.signum)
    _held.signum = None
    with stop_signals_to(stop):
        yield stop


class _QuietWhenClosed:
    """sys.stdout, but once its reader has gone every write goes to the null device: the
    tutorial's lines are for a reader, the run's work (checkpoints, run.json) is not."""

    def __init__(self, stream):
        self._stream = stream
        self.reader_gone = False

    def write(self, text):
        self._guarded(self._stream.write, text)
        return len(text)

    def flush(self):
        self._guarded(self._stream.flush)

    def _guarded(self, call, *args):
        if self.reader_gone:
            return
        try:
            call(*args)
        except OSError as e:
            # Python ignores SIGPIPE, so a closed pipe is EPIPE (EINVAL on Windows).
            if not (isinstance(e, BrokenPipeError) or e.errno in (errno.EPIPE, errno.EINVAL)):
                raise
            self.reader_gone = True
            # stdout's descriptor to the null device: what is still buffered (and the
            # flush at exit) goes nowhere instead of failing again.
            with contextlib.suppress(OSError, ValueError):   # ValueError: no descriptor
                fd = self._stream.fileno()
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
                self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def quiet_if_stdout_closes(main):
    """``main()``'s exit code; if the reader of stdout goes away (a pipe into ``head``),
    printing stops without an error and ``main`` carries on."""
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
    """``main()``'s exit code, with SIGINT and SIGTERM held until ``main`` returns: one
    before ``main`` handles them is passed on (stop_requests); one after ``main`` returns
    is ignored, so it kills no finished run, nor prints "Exception ignored in: <module
    'threading'>"."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _hold)
    code = quiet_if_stdout_closes(main)
    # Ignored, not held: at exit Python puts the default action (death by the signal)
    # back under every handler of its own, and TensorFlow's teardown takes a second.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    return code
