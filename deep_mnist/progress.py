"""Progress on stderr (steps/s, ETA): a live line on a terminal, else a line every 30 s.
While a Progress is open on a terminal, a write to stdout first erases the live line, so
a step line never lands behind it. A dozen lines do this; a progress library would ask
the tutorial's ``print`` to go through it instead."""

import math
import sys
import time


def duration(seconds):
    """'1h05m', '7m05s', '42s', or '?' for an unknown time."""
    if seconds is None or not math.isfinite(seconds):
        return '?'
    seconds = int(round(seconds))
    if seconds >= 3600:
        return '%dh%02dm' % (seconds // 3600, seconds % 3600 // 60)
    return '%dm%02ds' % divmod(seconds, 60) if seconds >= 60 else '%ds' % seconds


class _ClearingStream:
    """sys.stdout, but a write first erases Progress's live line."""

    def __init__(self, stream, progress):
        self._stream, self._progress = stream, progress

    def write(self, text):
        self._progress.clear()
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Progress:
    """Steps/s and ETA of a loop from ``start`` to ``total``; a context manager."""

    def __init__(self, start, total, stream=None):
        self.start, self.total, self.stream = start, total, stream or sys.stderr
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):     # no isatty, or a closed stream
            self.tty = False
        self.interval = 1.0 if self.tty else 30.0
        self.t0 = self.last = time.monotonic()
        self.drawn = False
        self._stdout = None

    def __enter__(self):
        if self.tty:
            self._stdout = sys.stdout
            sys.stdout = _ClearingStream(sys.stdout, self)
        return self

    def __exit__(self, *exc):
        self.close()

    def update(self, step):
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = (step - self.start) / (now - self.t0)
        eta = (self.total - step) / rate if rate > 0 else float('inf')
        line = 'step %d/%d  %.1f steps/s  ETA %s' % (step, self.total, rate, duration(eta))
        if self.tty:
            (self._stdout or sys.stdout).flush()
            self.stream.write('\r' + line + '\x1b[K')
            self.drawn = True
        else:
            self.stream.write(line + '\n')
        self.stream.flush()

    def clear(self):
        if self.drawn:
            self.stream.write('\r\x1b[K')
            self.stream.flush()
            self.drawn = False

    def close(self):
        self.clear()
        if self._stdout is not None:
            sys.stdout, self._stdout = self._stdout, None
