"""Test-set evaluation: batched (deep_cnn.evaluate, EVAL_BATCH images a run) vs one-shot (all 10000 in one run).

    python bench/bench_eval.py [--repeat N] [--batch_size B] [--modes batched,one_shot]
                               [--data_dir DIR] [--json PATH]

Each mode runs in its own subprocess on a freshly initialised expert model (graph seed
1, so both see the same weights; the accuracy, ~10 %, is irrelevant, but the two modes
must agree to 1e-6):

* batched: ``deep_cnn.evaluate(sess, model, images, labels, EVAL_BATCH)``, i.e.
  10 runs of 1000 images fetching the correct count and summed loss;
* one_shot: one ``sess.run(model.accuracy)`` fed all 10000 test images, as the
  tutorial's ``accuracy.eval(feed_dict={x: mnist.test.images, ...})``.

Peak memory: ``ru_maxrss`` only ever grows, so each mode gets a fresh process. After
the graph is built, the data loaded and the variables initialised, the baseline is
taken; the kernel's high-water mark is first reset to the current RSS (Linux:
``/proc/self/clear_refs``), or loading MNIST's transient copies would hide a smaller
evaluation peak. The table shows the increase from that baseline to the peak after
the first full evaluation. Times: the first (cold) call, then the best and median of
``--repeat`` more. About 1 minute in all.

Prints a table and writes JSON with machine info (default bench/results/eval.json).
"""

import argparse
import json
import os
import resource
import statistics
import sys
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:  # imported from elsewhere, not run as a script
    sys.path.insert(0, BENCH_DIR)

import common  # noqa: E402  (needs the path above; puts the repository root on it too)
import deep_cnn  # noqa: E402  (TensorFlow only loads in the workers)
import mnist_data  # noqa: E402

MODES = ('batched', 'one_shot')
SEED = 1
TOLERANCE = 1e-6


# --- the worker (one subprocess per mode) -------------------------------------------

def maxrss_mb():
    """This process's peak resident set size so far, in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == 'darwin' else peak / 1024  # bytes / KiB


def rss_mb():
    """Current resident set size in MiB (Linux), else None."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmRSS:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def reset_peak():
    """Reset the kernel's RSS high-water mark to the current RSS; False if we cannot."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def worker(mode, batch_size, repeat, data_dir, out_path):
    tf = deep_cnn.import_tf()
    mnist = mnist_data.read_data_sets(data_dir, one_hot=True)
    images, labels = mnist.test.images, mnist.test.labels
    model = deep_cnn.build_model(deep_cnn.RECIPES['expert'], 1e-4, seed=SEED)
    with tf.Session(graph=model.graph) as sess:
        sess.run(tf.global_variables_initializer())
        model.graph.finalize()

        if mode == 'batched':
            def run():
                return deep_cnn.evaluate(sess, model, images, labels, batch_size)[0]
        else:
            def run():
                return float(sess.run(model.accuracy,
                                      feed_dict={model.x: images, model.y_: labels}))

        maxrss_before_reset = maxrss_mb()
        reset = reset_peak()
        baseline = maxrss_mb()
        rss = rss_mb()
        t0 = time.perf_counter()
        accuracy = run()
        first_s = time.perf_counter() - t0
        peak = maxrss_mb()
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            again = run()
            times.append(time.perf_counter() - t0)
            if again != accuracy:
                raise RuntimeError('%s: accuracy changed between runs: %r then %r'
                                   % (mode, accuracy, again))
    result = {
        'mode': mode,
        'batch_size': batch_size if mode == 'batched' else len(images),
        'session_runs': -(-len(images) // batch_size) if mode == 'batched' else 1,
        'accuracy': accuracy,
        'first_s': first_s,
        'times_s': times,
        'best_s': min(times) if times else first_s,
        'median_s': statistics.median(times) if times else first_s,
        'maxrss_before_reset_mb': maxrss_before_reset,
        'peak_reset': reset,
        'baseline_maxrss_mb': baseline,
        'baseline_rss_mb': rss,
        'peak_maxrss_mb': peak,
        'peak_maxrss_after_repeats_mb': maxrss_mb(),
        'peak_increase_mb': peak - baseline,
        'tensorflow': tf.__version__,
    }
    with open(out_path, 'w') as f:
        json.dump(result, f)
    return 0


# --- the driver -----------------------------------------------------------------------

def run_mode(mode, args):
    """One mode's worker result, measured in a fresh interpreter."""
    return common.run_worker(
        __file__, ['--worker', mode, '--batch_size', str(args.batch_size),
                   '--repeat', str(args.repeat), '--data_dir', args.data_dir],
        'the %s worker' % mode)


def main():
    parser = mnist_data.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=mnist_data.positive_int, default=5,
                        help='timed evaluations after the first, per mode (default 5)')
    parser.add_argument('--batch_size', type=mnist_data.positive_int,
                        default=deep_cnn.EVAL_BATCH,
                        help='images per run in batched mode (default deep_cnn.EVAL_BATCH, %d)'
                        % deep_cnn.EVAL_BATCH)
    parser.add_argument('--modes', type=common.choice_list(MODES), default=','.join(MODES),
                        help='which to run (default %s)' % ','.join(MODES))
    common.add_data_dir(parser)
    common.add_json(parser, 'eval.json')
    parser.add_argument('--worker', choices=MODES, help=argparse.SUPPRESS)
    parser.add_argument('--worker_out', help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.data_dir = os.path.abspath(args.data_dir)
    if args.worker:
        return worker(args.worker, args.batch_size, args.repeat, args.data_dir,
                      args.worker_out)
    mnist_data.maybe_download(args.data_dir)

    load_before = common.loadavg()
    results = {}
    for mode in args.modes:
        print('%s ...' % mode, file=sys.stderr, flush=True)
        results[mode] = run_mode(mode, args)
    load_after = common.loadavg()
    tensorflow = next(iter(results.values())).pop('tensorflow')
    for r in results.values():
        r.pop('tensorflow', None)

    print('%-9s %6s %5s %9s %9s %10s %10s %10s %9s' % (
        'mode', 'batch', 'runs', 'first ms', 'best ms', 'median ms', 'base MiB',
        'peak +MiB', 'accuracy'))
    for mode, r in results.items():
        print('%-9s %6d %5d %9.0f %9.0f %10.0f %10.0f %10.0f %9.4f' % (
            mode, r['batch_size'], r['session_runs'], 1e3 * r['first_s'], 1e3 * r['best_s'],
            1e3 * r['median_s'], r['baseline_maxrss_mb'], r['peak_increase_mb'],
            r['accuracy']))
    if not all(r['peak_reset'] for r in results.values()):
        print('warning: could not reset the RSS high-water mark; a peak below the loading '
              'peak reads as 0', file=sys.stderr)

    agree = None
    if len(results) == 2:
        a, b = results['batched']['accuracy'], results['one_shot']['accuracy']
        agree = abs(a - b) <= TOLERANCE
        print('one_shot / batched: time %.2fx, peak memory increase %.1fx; accuracies %s '
              '(%.6f vs %.6f)' % (
                  results['one_shot']['best_s'] / results['batched']['best_s'],
                  results['one_shot']['peak_increase_mb']
                  / max(results['batched']['peak_increase_mb'], 1e-9),
                  'agree' if agree else 'DIFFER', a, b))

    report = {
        'benchmark': 'deep_cnn test-set evaluation',
        'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'repeat': args.repeat,
        'batch_size': args.batch_size,
        'test_images': 10000,
        'seed': SEED,
        'accuracies_agree': agree,
        'tolerance': TOLERANCE,
        'data_dir': args.data_dir,
        'machine': common.machine_info(tensorflow=tensorflow, loadavg_before=load_before,
                                       loadavg_after=load_after),
        'results': results,
    }
    common.write_report(args.json, report)
    if agree is False:
        print('error: batched and one-shot accuracies differ by more than %g' % TOLERANCE,
              file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
