"""Test-set evaluation, batched vs one-shot: time and peak memory; the accuracies must agree.

    python bench/bench_eval.py [--repeat 5]

batched: deep_cnn.evaluate, checkpoints.EVAL_BATCH images a run; one_shot: the tutorial's one run on
all 10000. Same weights (expert, graph seed 1). One process per mode, as the peak-RSS
mark (VmHWM, Linux) is per process; it is reset after loading, whose own peak would hide
a smaller one. Exit 1 if the accuracies differ by more than 1e-6.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time

import common
import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, tfstart

MODES = ('batched', 'one_shot')
TOLERANCE = 1e-6


def peak_rss_mib():
    with open('/proc/self/status') as f:
        return next(int(line.split()[1]) / 1024 for line in f if line.startswith('VmHWM:'))


def worker(mode, repeat):
    """Evaluate 1 + repeat times in this process; print the measurements as JSON."""
    tf = tfstart.import_tf()
    test = mnist_data.read_data_sets(common.DATA_DIR, one_hot=True).test
    model = deep_cnn.build_model(deep_cnn.resolve('expert', seed=1))
    with tfstart.new_session(model.graph) as sess, model.graph.as_default():
        sess.run(tf.global_variables_initializer())
        feed = {model.x: test.images, model.y_: test.labels}
        run = ((lambda: deep_cnn.evaluate(sess, model, test.images, test.labels)[0])
               if mode == 'batched' else lambda: float(sess.run(model.accuracy, feed)))
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets VmHWM to the current RSS
        base = peak_rss_mib()
        times = []
        for i in range(1 + repeat):
            t0 = time.perf_counter()
            accuracy = run()
            times.append(time.perf_counter() - t0)
            if i == 0:
                peak = peak_rss_mib()
    print(json.dumps({'accuracy': accuracy, 'first_s': times[0],
                      'median_s': statistics.median(times[1:] or times),
                      'base_mib': base, 'peak_increase_mib': peak - base}))
    return 0


def measure(mode, repeat):
    argv = [sys.executable, __file__, '--worker', mode, '--repeat', str(repeat)]
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode:
        sys.exit('error: the %s worker failed:\n%s' % (mode, proc.stderr))
    return json.loads(proc.stdout.splitlines()[-1])


def main():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=cli.nonnegative_int, default=5,
                        help='timed evaluations after the first (default 5)')
    parser.add_argument('--worker', choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.repeat)
    mnist_data.maybe_download(common.DATA_DIR)
    load = common.warn_if_busy('bench_eval')
    results = {mode: measure(mode, args.repeat) for mode in MODES}
    print('%-9s %9s %10s %9s %10s %9s' % ('mode', 'first ms', 'median ms', 'base MiB',
                                         'peak +MiB', 'accuracy'))
    for mode, r in results.items():
        print('%-9s %9.0f %10.0f %9.0f %10.0f %9.4f' % (
            mode, 1e3 * r['first_s'], 1e3 * r['median_s'], r['base_mib'],
            r['peak_increase_mib'], r['accuracy']))
    a, b = (results[m]['accuracy'] for m in MODES)
    agree = abs(a - b) <= TOLERANCE
    print('accuracies %s (%.6f vs %.6f)' % ('agree' if agree else 'DIFFER', a, b))
    common.write_report('eval', load, repeat=args.repeat, eval_batch=checkpoints.EVAL_BATCH,
                        accuracies_agree=agree, results=results)
    return 0 if agree else 1


if __name__ == '__main__':
    sys.exit(main())
