"""Test-set evaluation, batched vs one-shot: time and peak memory; the accuracies must agree
(exit 1 if not). Each mode in a process of its own: the peak-RSS mark is per process.

    .venv/bin/python bench/bench_eval.py [--repeat 5]
"""

import contextlib
import multiprocessing
import statistics
import sys
import time
import timeit

import common
import deep_cnn
from deep_mnist import checkpoints, cli

TOLERANCE = 1e-6


def peak_rss_mib():
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith('VmHWM:'))


def evaluate(mode, repeat):
    """The measurements of 1 + repeat evaluations in ``mode``, in this process."""
    test = common.mnist().test
    with contextlib.ExitStack() as stack:
        _, model, sess = common.session(deep_cnn.resolve('expert', seed=1), stack)
        run = ((lambda: deep_cnn.evaluate(sess, model, test.images, test.labels)[0])
               if mode == 'batched' else lambda: float(sess.run(
                   model.accuracy, {model.x: test.images, model.y_: test.labels})))
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current RSS: loading's own peak would hide ours
        base, t0, accuracy = peak_rss_mib(), time.perf_counter(), run()
        first, peak = time.perf_counter() - t0, peak_rss_mib()
        times = timeit.repeat(run, number=1, repeat=repeat) or [first]
    return {'accuracy': accuracy, 'first_s': first, 'median_s': statistics.median(times),
            'base_mib': base, 'peak_increase_mib': peak - base}


def measure(args):
    results = {}
    for mode in ('batched', 'one_shot'):
        with multiprocessing.get_context('spawn').Pool(1) as worker:
            results[mode] = worker.apply(evaluate, (mode, args.repeat))
    for mode, r in results.items():
        print('%-9s first %.0f ms, median %.0f ms, base %.0f MiB, peak +%.0f MiB, accuracy %.4f'
              % (mode, 1e3 * r['first_s'], 1e3 * r['median_s'], r['base_mib'],
                 r['peak_increase_mib'], r['accuracy']))
    a, b = (r['accuracy'] for r in results.values())
    agree = abs(a - b) <= TOLERANCE
    print('accuracies %s (%.6f vs %.6f)' % ('agree' if agree else 'DIFFER', a, b))
    return {'repeat': args.repeat, 'eval_batch': checkpoints.EVAL_BATCH,
            'accuracies_agree': agree, 'results': results, 'exit': 0 if agree else 1}


if __name__ == '__main__':
    sys.exit(common.main('eval', __doc__, measure, flags=lambda p: p.add_argument(
        '--repeat', type=cli.nonnegative_int, default=5,
        help='timed evaluations after the first (default 5)')))
