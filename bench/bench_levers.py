"""Each speed lever of `fast`, measured: images/s of the training step with the lever off
and on, in one process, interleaved, on the CPU at hand (bench/README.md).

    .venv/bin/python bench/bench_levers.py {batch,jit,threads,precision,all,extras}
                                           [--steps 60] [--rounds 3] [--loop_steps 1000]
"""

import contextlib
import os
import statistics
import sys
import tempfile
import time

import common
import deep_cnn
from deep_mnist import cli, recipes

LEVERS = ('batch', 'jit', 'threads', 'precision')
WARMUP = 10


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
    with contextlib.ExitStack() as stack:
        opened = {}
        for label, (batch, precision, *options) in variants(lever).items():
            config = recipes.resolve('expert', batch_size=batch, precision=precision)
            opened[label] = common.session(config, stack, *options)
            if opened[label] is None:
                del opened[label]
                print('%s: not measured, this CPU has no native bfloat16' % label)
        rates = common.images_per_s(data, opened, args.steps, args.rounds, WARMUP)
    first = statistics.median(next(iter(rates.values())))
    print('%-20s %9s %8s   (per round: images/s)' % (lever, 'images/s', 'ratio'))
    for label, r in rates.items():
        print('%-20s %9.0f %7.2fx   %s' % (label, statistics.median(r), statistics.median(r)
                                           / first, ' '.join('%.0f' % x for x in r)), flush=True)
    return rates


def extras(data, args):
    """deep_cnn's run (checkpoints, summaries, progress, run.json) against the tutorial's
    bare loop on a fresh session, both ending with a test pass; drift cancels in a round."""
    times = []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory(prefix='bench_levers_') as tmp:
            times.append([common.trained(deep_cnn.resolve(
                'expert', steps=args.loop_steps, data_dir=common.DATA_DIR,
                checkpoint_dir=os.path.join(tmp, 'ckpt'), log_dir=os.path.join(tmp, 'logs'))
            )['wall_time_s']])
        with contextlib.ExitStack() as stack:
            config, model, sess = common.session(deep_cnn.resolve('expert'), stack)
            t0 = time.perf_counter()
            common.train_steps(data, config, model, sess, args.loop_steps, log_every=100)
            deep_cnn.evaluate(sess, model, data.test.images, data.test.labels)
            times[-1].append(time.perf_counter() - t0)
    ratio = statistics.median(p / b for p, b in times)
    print('deep_cnn vs the bare loop, %d steps: %.1f s vs %.1f s, %.3fx the time' % (
        args.loop_steps, *(statistics.median(t) for t in zip(*times)), ratio))
    return {'steps': args.loop_steps, 'deep_cnn_and_bare_s': times, 'ratio': ratio}


def measure(args):
    data = common.mnist()
    if args.lever == 'extras':
        return {'extras': extras(data, args)}
    return {'steps': args.steps, 'rounds': args.rounds, 'images_per_s': {
        lever: lever_rates(data, lever, args)
        for lever in (LEVERS if args.lever == 'all' else [args.lever])}}


def flags(parser):
    parser.add_argument('lever', choices=LEVERS + ('all', 'extras'))
    parser.add_argument('--loop_steps', type=cli.positive_int, default=1000,
                        help='steps of each run of the extras lever (default 1000)')


if __name__ == '__main__':
    sys.exit(common.main('levers', __doc__, measure, flags, steps=60, rounds=3))
