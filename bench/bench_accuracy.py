"""Time to accuracy: whole deep_cnn.py runs per recipe and seed, their test accuracy and time.

    .venv/bin/python bench/bench_accuracy.py [--recipes expert,fast] [--seeds 1,2,3] [-- EXTRA ARGS]

Runs `deep_cnn.py --recipe R --seed S --fresh` in a temporary directory, the recipes in
turn for each seed, so a drift in the machine's speed hits them alike. Arguments after
`--` go to every run (smoke test: `-- --steps 30`). "train s" is run.json's wall_time_s;
"process s" the whole process. Ctrl-C stops the current run (it saves) and reports what
finished.
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

# An argparse type: a comma-separated list of recipes.
recipe_list = cli.checked_type(lambda text: text.split(','),
                                lambda items: set(items) <= set(deep_cnn.RECIPES),
                                'recipes from ' + ', '.join(deep_cnn.RECIPES))


def run_one(recipe, seed, extra, work_dir):
    """One deep_cnn.py process; (its record, whether it was interrupted)."""
    ckpt = os.path.join(work_dir, '%s-s%d' % (recipe, seed))
    cmd = [sys.executable, os.path.join(common.REPO_ROOT, 'deep_cnn.py'), '--recipe', recipe,
           '--seed', str(seed), '--fresh', '--data_dir', common.DATA_DIR,
           '--checkpoint_dir', ckpt, '--log_dir', ckpt + '-logs'] + extra
    interrupted = False
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)  # step lines; stderr shows progress
    try:
        rc = proc.wait()
    except KeyboardInterrupt:  # the child has the SIGINT too: it saves and stops
        interrupted = True
        rc = proc.wait()
    process_s = time.perf_counter() - t0
    run = record.read_run_json(ckpt)
    interrupted = interrupted or run.get('status') == 'interrupted'
    status = run.get('status') or ('interrupted' if interrupted else 'failed')
    return dict(recipe=recipe, seed=seed, ok=rc == 0 and status == 'finished', status=status,
                exit_code=rc, steps=run.get('steps'), test_accuracy=run.get('test_accuracy'),
                train_s=run.get('wall_time_s'), process_s=process_s), interrupted


def row(r):
    if not r['ok']:
        return '%-12s %4d  %s (exit %d)' % (r['recipe'], r['seed'], r['status'], r['exit_code'])
    return '%-12s %4d %6d %8.4f %8.1f %9.1f' % (r['recipe'], r['seed'], r['steps'],
                                                r['test_accuracy'], r['train_s'], r['process_s'])


def summarise(recipes, records):
    """Per recipe with finished runs: the accuracy's mean, min and max; the mean times and
    their ratio to the first recipe's."""
    summary = []
    for recipe in recipes:
        ok = [r for r in records if r['recipe'] == recipe and r['ok']]
        if ok:
            acc = [r['test_accuracy'] for r in ok]
            s = dict(recipe=recipe, runs=len(ok), accuracy=statistics.mean(acc), min=min(acc),
                     max=max(acc), train_s=statistics.mean(r['train_s'] for r in ok),
                     process_s=statistics.mean(r['process_s'] for r in ok))
            first = summary[0] if summary else s
            s['train_ratio'] = s['train_s'] / first['train_s']
            s['process_ratio'] = s['process_s'] / first['process_s']
            summary.append(s)
            print('%(recipe)-12s %(runs)d runs: accuracy %(accuracy).4f (%(min).4f-%(max).4f), '
                  'train %(train_s).1f s (%(train_ratio).2fx), process %(process_s).1f s '
                  '(%(process_ratio).2fx)' % s)
    return summary


def main():
    argv, extra = sys.argv[1:], []
    if '--' in argv:
        argv, extra = argv[:argv.index('--')], argv[argv.index('--') + 1:]
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--recipes', type=recipe_list, default='expert,fast',
                        help='the first is the reference of the time ratios (default '
                             'expert,fast)')
    parser.add_argument('--seeds', default='1', help='comma-separated (default 1)',
                        type=lambda s: [cli.seed_int(x) for x in s.split(',')])
    args = parser.parse_args(argv)
    load = common.warn_if_busy('bench_accuracy')
    records = []
    print('recipe       seed  steps test acc  train s process s')
    with tempfile.TemporaryDirectory(prefix='bench_accuracy_') as work_dir:
        for seed, recipe in [(s, r) for s in args.seeds for r in args.recipes]:
            record, interrupted = run_one(recipe, seed, extra, work_dir)
            records.append(record)
            print(row(record), flush=True)
            if interrupted:
                break
    summary = summarise(args.recipes, records)
    common.write_report('accuracy', load, recipes=args.recipes, seeds=args.seeds, extra=extra,
                        interrupted=interrupted, summary=summary, runs=records)
    return 130 if interrupted else 0 if all(r['ok'] for r in records) else 1


if __name__ == '__main__':
    sys.exit(main())
