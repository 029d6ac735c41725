"""The tuning of `fast`, rerun: each candidate schedule of docs/fast.md's tables trained on
the given seeds, and its VALIDATION accuracy, never the test set's (bench/README.md)."""

import contextlib
import dataclasses
import io
import os
import re
import statistics
import sys
import tempfile

import common
import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, recipes, record

# PRECISION-EPOCHSxBATCH-PEAK_RATE, "-ls0" without label smoothing: the rows of the tables
CANDIDATES = '''bf16-4x128-2e-3-ls0 bf16-4x128-3e-3-ls0 bf16-4x128-5e-3-ls0 bf16-4x128-3e-3
    bf16-4x128-5e-3 bf16-4x256-5e-3 bf16-3x128-3e-3 bf16-5x128-3e-3 fp32-4x128-5e-3
    fp32-3x128-5e-3 fp32-3x256-5e-3 fp32-3x256-7e-3 fp32-2.5x256-7e-3 fp32-2.5x128-5e-3
    fp32-3.5x128-5e-3 fp32-3x128-7e-3'''.split()
TEST_SEEDS = set(range(1, 6)) | set(range(11, 16))   # the recipe's test accuracy: never tuned
candidate_list = cli.checked_type(lambda text: text.split(','),
                                  lambda items: set(items) <= set(CANDIDATES),
                                  'candidates from ' + ', '.join(CANDIDATES))
seed_list = cli.checked_type(lambda text: [int(s) for s in text.split(',')],
                             lambda seeds: all(s > 0 and s not in TEST_SEEDS for s in seeds),
                             'positive seeds other than 1-5 and 11-15 (the untuned test seeds)')


def schedule(name):
    """A candidate's schedule over fast's row: warm-up to the peak rate, then linear to 0."""
    precision, epochs, batch, rate, no_smoothing = re.fullmatch(
        r'(\w+)-([\d.]+)x(\d+)-([\de-]+?)(-ls0)?', name).groups()
    return dict(precision=precision, batch_size=int(batch), learning_rate=float(rate),
                steps=round(float(epochs) * mnist_data.TRAIN_EXAMPLES / int(batch)),
                label_smoothing=0.0 if no_smoothing else 0.1, warmup=0.05)


def tune_one(name, seed, work_dir, validation):
    """(validation accuracy, train s) of one candidate and seed; the run's progress shows on
    stderr, its stdout (the test accuracy) never."""
    ckpt = os.path.join(work_dir, '%s-s%d' % (name, seed))
    config = dataclasses.replace(deep_cnn.resolve(
        'fast', seed=seed, data_dir=common.DATA_DIR, checkpoint_dir=ckpt, log_dir=ckpt + '-logs',
        summary_every=0, log_every=0), tuned_for=name[:4], **schedule(name))
    with contextlib.redirect_stdout(io.StringIO()):
        code = deep_cnn.run(config, fresh=True)
    if code:
        sys.exit('error: the run into %s failed (exit %d)' % (ckpt, code))
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=ckpt) as net:
        accuracy = (net.predict(validation.images).argmax(1) == validation.labels).mean()
    return float(accuracy), record.read_run_json(ckpt)['wall_time_s']


def measure(args):
    names = [n for n in args.candidates if recipes.computes_in(n[:4]) == n[:4]]
    for n in sorted(set(args.candidates) - set(names)):
        print('%s: skipped, this CPU has no native bfloat16' % n)
    results = {n: {} for n in names}
    validation = mnist_data.read_data_sets(common.DATA_DIR).validation
    with tempfile.TemporaryDirectory(prefix='bench_tune_') as tmp:
        for seed in args.seeds:                 # seed by seed: drift hits all candidates
            for n in names:
                results[n][seed] = tune_one(n, seed, tmp, validation)
                print('%-20s seed %4d  validation %.4f  train %6.1f s' % (
                    n, seed, *results[n][seed]), flush=True)
    print('\n| candidate | steps x batch | validation, seeds %s | mean | train s (mean) |'
          % ' / '.join(map(str, args.seeds)))
    print('|---|---|---|---|---|')
    for n in names:
        accs, c = [results[n][s][0] for s in args.seeds], schedule(n)
        print('| %s | %d x %d | %s | %.4f | %.0f |' % (
            n, c['steps'], c['batch_size'], ' / '.join('%.4f' % a for a in accs),
            statistics.mean(accs), statistics.mean(results[n][s][1] for s in args.seeds)))
    return {'seeds': args.seeds, 'candidates': {n: schedule(n) for n in names},
            'validation': {n: {str(s): v for s, v in r.items()} for n, r in results.items()}}


def flags(parser):
    parser.add_argument('--candidates', type=candidate_list,
                        default=[n for n in CANDIDATES if n.startswith('fp32')],
                        help='comma-separated (default: the fp32 ones): ' + ', '.join(CANDIDATES))
    parser.add_argument('--seeds', type=seed_list, default=[101, 102, 103],
                        help='tuning seeds, not 1-5 or 11-15 (default 101,102,103)')


if __name__ == '__main__':
    sys.exit(common.main('tune', __doc__, measure, flags))
