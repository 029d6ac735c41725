"""Each speed lever of `fast`, measured: images/s of the training step with the lever off
and on, in one process, interleaved, on the CPU at hand (bench/README.md)."""

import contextlib
import statistics
import sys
import time

import common
from deep_mnist import recipes

LEVERS = ('batch', 'jit', 'threads', 'precision')
WARMUP = 10   # untimed steps a session: oneDNN and XLA compile in the first ones


def variants(lever):
    """{label: (batch size, precision, jit, intra-op threads, inter-op threads)}."""
    b = recipes.SCHEDULES['fast']['fp32']['batch_size']   # fast's step without bf16
    return {'batch': {'batch %d' % n: (n, 'fp32', False, 0, 0) for n in (50, 128, 256, 512)},
            'jit': {'XLA off': (b, 'fp32', False, 0, 0), 'XLA on': (b, 'fp32', True, 0, 0)},
            'threads': {'default threads': (b, 'fp32', False, 0, 0),
                        'intra 2, inter 1': (b, 'fp32', False, 2, 1),
                        'intra 1, inter 1': (b, 'fp32', False, 1, 1)},
            'precision': {'%s, batch %d' % (p, n): (n, p, False, 0, 0)
                          for n in (128, 256) for p in ('fp32', 'bf16')}}[lever]


def lever_rates(data, lever, args):
    """{variant: [images/s, one per round]} of ``lever``, printed as a table."""
    with contextlib.ExitStack() as stack:
        opened = {}
        for label, (batch, precision, *options) in variants(lever).items():
            if recipes.computes_in(precision) != precision:
                print('%s: not measured, this CPU has no native bfloat16' % label)
                continue
            config = recipes.resolve('expert', batch_size=batch, precision=precision)
            opened[label] = common.session(config, stack, *options)
            common.train_steps(data, *opened[label], WARMUP)

        def rate(label):
            t0 = time.perf_counter()
            common.train_steps(data, *opened[label], args.steps)
            return args.steps * opened[label][0].batch_size / (time.perf_counter() - t0)
        rates = common.interleaved(opened, args.rounds, rate)
    first = statistics.median(next(iter(rates.values())))
    print('%-20s %9s %8s   (per round: images/s)' % (lever, 'images/s', 'ratio'))
    for label, r in rates.items():
        print('%-20s %9.0f %7.2fx   %s' % (label, statistics.median(r), statistics.median(r)
                                           / first, ' '.join('%.0f' % x for x in r)), flush=True)
    return rates


def measure(args):
    data = common.mnist()
    return {'steps': args.steps, 'rounds': args.rounds, 'images_per_s': {
        lever: lever_rates(data, lever, args)
        for lever in (LEVERS if args.lever == 'all' else [args.lever])}}


def flags(parser):
    parser.add_argument('lever', choices=LEVERS + ('all',))


if __name__ == '__main__':
    sys.exit(common.main('levers', __doc__, measure, flags, steps=60, rounds=3))
