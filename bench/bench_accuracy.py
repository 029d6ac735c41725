"""Time to accuracy: whole deep_cnn.py runs per recipe and seed, their test accuracy and time.

    .venv/bin/python bench/bench_accuracy.py [--recipes expert,fast] [--seeds 1,2,3] [-- ARGS]

ARGS go to every run. Ctrl-C stops the current run (it saves) and reports what finished.
"""

import os
import statistics
import subprocess
import sys
import tempfile
import time

import common
import deep_cnn
from deep_mnist import cli, record

recipe_list = cli.checked_type(lambda text: text.split(','),
                               lambda items: set(items) <= set(deep_cnn.RECIPES),
                               'recipes from ' + ', '.join(deep_cnn.RECIPES))


def run_one(recipe, seed, extra, work_dir):
    """One deep_cnn.py process: its record, and whether it was interrupted."""
    ckpt = os.path.join(work_dir, '%s-s%d' % (recipe, seed))
    cmd = [sys.executable, os.path.join(common.REPO_ROOT, 'deep_cnn.py'), '--recipe', recipe,
           '--seed', str(seed), '--fresh', '--data_dir', common.DATA_DIR,
           '--checkpoint_dir', ckpt, '--log_dir', ckpt + '-logs'] + extra
    t0, interrupted = time.perf_counter(), False
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # stderr shows its progress
    try:
        rc = proc.wait()
    except KeyboardInterrupt:  # the child has the SIGINT too: it saves and stops
        interrupted, rc = True, proc.wait()
    run = record.read_run_json(ckpt)
    status = run.get('status') or ('interrupted' if interrupted else 'failed')
    return dict(recipe=recipe, seed=seed, ok=rc == 0 and status == 'finished', status=status,
                exit_code=rc, steps=run.get('steps'), test_accuracy=run.get('test_accuracy'),
                train_s=run.get('wall_time_s'), process_s=time.perf_counter() - t0), \
        interrupted or status == 'interrupted'


def measure(args):
    records, interrupted, summary = [], False, []
    print('recipe       seed  steps test acc  train s process s')
    with tempfile.TemporaryDirectory(prefix='bench_accuracy_') as work_dir:
        for seed, recipe in [(s, r) for s in args.seeds for r in args.recipes]:
            r, interrupted = run_one(recipe, seed, args.extra, work_dir)
            records.append(r)
            print('%-12s %4d %6d %8.4f %8.1f %9.1f' % tuple(r[k] for k in (
                'recipe', 'seed', 'steps', 'test_accuracy', 'train_s', 'process_s')) if r['ok']
                else '%(recipe)-12s %(seed)4d  %(status)s (exit %(exit_code)d)' % r, flush=True)
            if interrupted:
                break
    for recipe in args.recipes:   # the time ratios are to the first recipe's
        ok = [r for r in records if r['recipe'] == recipe and r['ok']]
        if ok:
            acc = [r['test_accuracy'] for r in ok]
            s = dict(recipe=recipe, runs=len(ok), accuracy=statistics.mean(acc), min=min(acc),
                     max=max(acc), **{t: statistics.mean(r[t] for r in ok)
                                      for t in ('train_s', 'process_s')})
            for t in ('train', 'process'):
                s[t + '_ratio'] = s[t + '_s'] / (summary or [s])[0][t + '_s']
            summary.append(s)
            print('%(recipe)-12s %(runs)d runs: accuracy %(accuracy).4f (%(min).4f-%(max).4f), '
                  'train %(train_s).1f s (%(train_ratio).2fx), process %(process_s).1f s '
                  '(%(process_ratio).2fx)' % s)
    return dict(recipes=args.recipes, seeds=args.seeds, extra=args.extra, summary=summary,
                interrupted=interrupted, runs=records,
                exit=130 if interrupted else 0 if all(r['ok'] for r in records) else 1)


def flags(parser):
    parser.add_argument('--recipes', type=recipe_list, default='expert,fast',
                        help='the first is the reference of the time ratios (default expert,fast)')
    parser.add_argument('--seeds', default='1', help='comma-separated (default 1)',
                        type=lambda s: [cli.seed_int(x) for x in s.split(',')])
    parser.add_argument('extra', nargs='*', help='after --: arguments for every run')


if __name__ == '__main__':
    sys.exit(common.main('accuracy', __doc__, measure, flags))
