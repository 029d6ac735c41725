"""Stop signals: SIGINT (Ctrl-C) everywhere, SIGTERM where the platform has it, routed to
one handler for a block, so a run can finish its step, save and say where."""

import contextlib
import signal

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


def exit_quietly(main):
    """Run a script's ``main()`` and return its exit code, with SIGINT and SIGTERM held for
    the whole life of the process: one that lands before ``main`` has set up its own
    handling is passed on to it (stop_requests); one that lands after ``main`` has
    returned (while Python tears down) no longer kills a run that has finished, nor
    prints "Exception ignored in: <module 'threading'>"."""
    for sig in STOP_SIGNALS:
        signal.signal(sig, _hold)
    code = main()
    _held.signum = None
    return code
