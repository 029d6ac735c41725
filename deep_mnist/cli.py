"""The scripts' command line: a usage error in one line, argparse types that refuse a bad
value before any work starts, and expected failures as one line and an exit code."""

import argparse
import sys


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit 2), not the whole usage."""

    def error(self, message):
        self.exit(2, '%s: error: %s\n' % (self.prog, message))


def checked_type(convert, ok, what):
    """An argparse type: ``convert`` the text, then require ``ok(value)``, which ``what`` words."""
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
seed_int = checked_type(int, lambda v: 0 <= v < 2 ** 32, 'an integer in [0, 2**32)')  # numpy's


def reported(prog, work, errors):
    """``work()``'s exit code; one of ``errors`` (failures a user can mend) ends it as one
    'error: ...' line and 1, Ctrl-C as '``prog``: interrupted' and 130 (SIGTERM 143)."""
    try:
        return work()
    except errors as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print('%s: interrupted' % prog, file=sys.stderr)
        return 128 + getattr(e, 'signum', 2)    # 2: SIGINT
