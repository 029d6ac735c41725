"""Time to a target: full deep_cnn.py runs per recipe and seed, their test accuracy and wall time.

    python bench/bench_accuracy.py [--recipes expert,original] [--seeds 1,2,3]
                                   [--data_dir DIR] [--work_dir DIR] [--json PATH]
                                   [-- EXTRA deep_cnn.py ARGS]

For each recipe and seed, runs

    python deep_cnn.py --recipe R --seed S --fresh --data_dir DIR
                       --checkpoint_dir TMP/R-sS/ckpt --log_dir TMP/R-sS/logs EXTRA...

as a subprocess (``--seed`` also turns on TensorFlow op determinism), measures its
whole-process wall time (TensorFlow start-up, data loading, graph, training, final
save and test pass) and reads its run.json (steps, test_accuracy, wall_time_s: the
training loop alone, steps_per_s). Prints one row per run, then per recipe the mean
(and spread) of accuracy and time, and each recipe's mean time as a ratio of the
first recipe's. Arguments after ``--`` go to every deep_cnn.py run, after ours, so
they win (a smoke test: ``-- --steps 30``).

THIS IS SLOW: a full expert or original run (20000 steps) takes ~15-30 min on 2 CPU
cores, so the defaults (expert, seed 1) take ~15-30 min and 2 recipes x 3 seeds
~1.5-3 h. Run it on an otherwise idle machine. The step lines of each run go to
TMP/R-sS/stdout.log; deep_cnn's progress (stderr) passes through. Ctrl-C stops the
current run cleanly (it saves) and reports what has finished. The temporary directory
is removed at the end unless ``--work_dir`` names one to keep.

Writes the runs, the summary and machine info as JSON (default bench/results/accuracy.json).
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:  # imported from elsewhere, not run as a script
    sys.path.insert(0, BENCH_DIR)

import common  # noqa: E402  (needs the path above; puts the repository root on it too)
import deep_cnn  # noqa: E402  (only its recipe table and read_run_json are used here)
import mnist_data  # noqa: E402

DEEP_CNN = os.path.join(common.REPO_ROOT, 'deep_cnn.py')
# run.json keys kept per run (its 'history' of step lines is left out).
RUN_KEYS = ('status', 'steps', 'steps_this_run', 'test_accuracy', 'wall_time_s',
            'steps_per_s', 'tensorflow', 'machine', 'finished_at', 'flags')


def seed_list(text):
    seeds = [mnist_data.seed_int(s) for s in text.split(',') if s]
    if not seeds:
        raise argparse.ArgumentTypeError('%r: a comma-separated list of seeds' % text)
    return seeds


def run_one(recipe, seed, args, extra, work_dir):
    """One deep_cnn.py run; (record, interrupted)."""
    run_dir = os.path.join(work_dir, '%s-s%d' % (recipe, seed))
    ckpt = os.path.join(run_dir, 'ckpt')
    os.makedirs(run_dir, exist_ok=True)
    cmd = [sys.executable, DEEP_CNN, '--recipe', recipe, '--seed', str(seed), '--fresh',
           '--data_dir', args.data_dir, '--checkpoint_dir', ckpt,
           '--log_dir', os.path.join(run_dir, 'logs')] + extra
    interrupted = False
    with open(os.path.join(run_dir, 'stdout.log'), 'w') as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=log, cwd=common.REPO_ROOT)
        try:
            rc = proc.wait()
        except KeyboardInterrupt:
            # The child got the SIGINT too: let it finish its step and save.
            interrupted = True
            rc = proc.wait()
        process_s = time.perf_counter() - t0
    run = deep_cnn.read_run_json(ckpt)
    record = {'recipe': recipe, 'seed': seed, 'exit_code': rc, 'process_wall_s': process_s,
              'command': cmd}
    record.update({k: run.get(k) for k in RUN_KEYS})
    record['ok'] = rc == 0 and run.get('status') == 'finished' \
        and run.get('test_accuracy') is not None
    # Stopped by a signal sent to deep_cnn.py alone (it exits 128 + signal): stop too.
    interrupted = interrupted or run.get('status') == 'interrupted'
    return record, interrupted


def mean_sd(values):
    if not values:
        return None, None
    return (statistics.mean(values),
            statistics.stdev(values) if len(values) > 1 else 0.0)


def fmt(value, spec, width):
    return ('%' + str(width) + 's') % ('-' if value is None else format(value, spec))


def main():
    argv = sys.argv[1:]
    extra = []
    if '--' in argv:
        cut = argv.index('--')
        argv, extra = argv[:cut], argv[cut + 1:]
    parser = mnist_data.ArgumentParser(
        description=__doc__.splitlines()[0],
        usage='%(prog)s [options] [-- extra deep_cnn.py arguments]')
    parser.add_argument('--recipes', type=common.choice_list(deep_cnn.RECIPES), default='expert',
                        help='comma-separated recipes, the first is the reference for the '
                             'time ratios (default expert; of %s)' % ', '.join(deep_cnn.RECIPES))
    parser.add_argument('--seeds', type=seed_list, default='1',
                        help='comma-separated seeds, each recipe runs once per seed (default 1)')
    common.add_data_dir(parser)
    parser.add_argument('--work_dir',
                        help='keep checkpoints, logs and step lines here (default: a '
                             'temporary directory, removed at the end)')
    common.add_json(parser, 'accuracy.json')
    args = parser.parse_args(argv)
    args.data_dir = os.path.abspath(args.data_dir)
    mnist_data.maybe_download(args.data_dir)  # no run times a download

    work_dir = os.path.abspath(args.work_dir) if args.work_dir else \
        tempfile.mkdtemp(prefix='bench_accuracy_')
    load_before = common.loadavg_warn('bench_accuracy')

    plan = [(r, s) for r in args.recipes for s in args.seeds]
    runs = []
    interrupted = False
    header = '%-12s %6s %7s %9s %9s %10s  %s' % (
        'recipe', 'seed', 'steps', 'test acc', 'train s', 'process s', 'status')

    def row(r):
        return '%-12s %6d %7s %9s %9s %10.1f  %s' % (
            r['recipe'], r['seed'], fmt(r['steps'], 'd', 7), fmt(r['test_accuracy'], '.4f', 9),
            fmt(r['wall_time_s'], '.1f', 9), r['process_wall_s'],
            'ok' if r['ok'] else '%s, exit %s' % (r['status'] or 'failed', r['exit_code']))

    try:
        for i, (recipe, seed) in enumerate(plan, 1):
            print('[%d/%d] %s seed %d (%s)%s ...' % (
                i, len(plan), recipe, seed, deep_cnn.RECIPES[recipe].expect and
                'expect %s' % deep_cnn.RECIPES[recipe].expect,
                ' ' + ' '.join(extra) if extra else ''), file=sys.stderr, flush=True)
            record, interrupted = run_one(recipe, seed, args, extra, work_dir)
            runs.append(record)
            print('  ' + row(record), file=sys.stderr, flush=True)
            if interrupted:
                break
    finally:
        if not args.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    load_after = common.loadavg()

    summary = []
    for recipe in args.recipes:
        ok = [r for r in runs if r['recipe'] == recipe and r['ok']]
        acc, acc_sd = mean_sd([r['test_accuracy'] for r in ok])
        train, train_sd = mean_sd([r['wall_time_s'] for r in ok])
        proc, _ = mean_sd([r['process_wall_s'] for r in ok])
        summary.append({'recipe': recipe, 'runs': len(ok),
                        'mean_test_accuracy': acc, 'sd_test_accuracy': acc_sd,
                        'min_test_accuracy': min((r['test_accuracy'] for r in ok), default=None),
                        'max_test_accuracy': max((r['test_accuracy'] for r in ok), default=None),
                        'mean_train_wall_s': train, 'sd_train_wall_s': train_sd,
                        'mean_process_wall_s': proc,
                        'mean_steps': mean_sd([r['steps'] for r in ok])[0]})
    ref = summary[0]
    for s in summary:
        for key, ratio in (('mean_train_wall_s', 'train_time_vs_first'),
                           ('mean_process_wall_s', 'process_time_vs_first')):
            s[ratio] = (s[key] / ref[key] if s[key] is not None and ref[key] else None)

    print(header)
    for r in runs:
        print(row(r))
    print()
    print('%-12s %4s %9s %8s %9s %10s %10s %8s' % (
        'recipe', 'runs', 'mean acc', 'sd acc', 'train s', 'process s', 'train vs', 'proc vs'))
    for s in summary:
        print('%-12s %4d %9s %8s %9s %10s %10s %8s' % (
            s['recipe'], s['runs'], fmt(s['mean_test_accuracy'], '.4f', 9),
            fmt(s['sd_test_accuracy'], '.4f', 8), fmt(s['mean_train_wall_s'], '.1f', 9),
            fmt(s['mean_process_wall_s'], '.1f', 10),
            fmt(s['train_time_vs_first'], '.2f', 9) + 'x' if s['train_time_vs_first'] else '-',
            fmt(s['process_time_vs_first'], '.2f', 7) + 'x' if s['process_time_vs_first']
            else '-'))
    print('(train s: run.json wall_time_s, the training loop; process s: the whole '
          'deep_cnn.py process; ratios: mean time / %s\'s)' % ref['recipe'])
    print('load average before %s, after %s (1/5/15 min)' % (load_before, load_after))

    report = {
        'benchmark': 'deep_cnn time to accuracy',
        'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'recipes': args.recipes,
        'seeds': args.seeds,
        'extra_args': extra,
        'interrupted': interrupted,
        'data_dir': args.data_dir,
        'work_dir': work_dir if args.work_dir else None,
        'machine': common.machine_info(
            tensorflow=next((r['tensorflow'] for r in runs if r.get('tensorflow')), None),
            loadavg_before=load_before, loadavg_after=load_after),
        'summary': summary,
        'runs': runs,
    }
    common.write_report(args.json, report)
    if interrupted:
        return 130
    return 0 if runs and all(r['ok'] for r in runs) else 1


if __name__ == '__main__':
    sys.exit(main())
