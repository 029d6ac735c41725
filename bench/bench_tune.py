"""The tuning of `fast`, rerun: each candidate schedule of docs/fast.md's table trained on
the given seeds, and its VALIDATION accuracy (never the test set's).

    .venv/bin/python bench/bench_tune.py [--candidates fp32-3x128-5e-3,...] [--seeds 101,102,103]

Each run is deep_cnn's training of the expert network (layers, sizes, initialisation,
dropout unchanged) with the candidate's schedule, in a temporary directory; its final
checkpoint is then evaluated on the 5000 validation images that read_data_sets holds
out. The run's own test pass still happens inside deep_cnn (it is part of a run) but
its result is neither read nor printed. Seeds 1-5 (bf16) and 11-15 (fp32) are the
untuned ones the recipe's test accuracy comes from: keep them out of tuning. "train s" is run.json's wall_time_s,
for comparing candidates on this CPU only. bf16 candidates need a CPU with native
bfloat16 (on any other they are skipped, and said so).
"""

import contextlib
import dataclasses
import io
import os
import statistics
import sys
import tempfile

import common
import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, machine, record, recipes, tfstart

TRAIN = mnist_data.TRAIN_EXAMPLES


def steps(epochs, batch_size):
    return round(epochs * TRAIN / batch_size)


def candidate(precision, epochs, batch_size, rate, smoothing=0.1, warmup=0.05):
    return dict(precision=precision, steps=steps(epochs, batch_size), batch_size=batch_size,
                learning_rate=rate, label_smoothing=smoothing, warmup=warmup)


# name: the schedule over fast's row (warm-up to the peak rate, then linear to 0).
CANDIDATES = {
    # the bf16 table (a CPU with native bfloat16)
    'bf16-4x128-2e-3-ls0': candidate('bf16', 4, 128, 2e-3, 0.0),
    'bf16-4x128-3e-3-ls0': candidate('bf16', 4, 128, 3e-3, 0.0),
    'bf16-4x128-5e-3-ls0': candidate('bf16', 4, 128, 5e-3, 0.0),
    'bf16-4x128-3e-3': candidate('bf16', 4, 128, 3e-3),
    'bf16-4x128-5e-3': candidate('bf16', 4, 128, 5e-3),     # fast's bf16 schedule
    'bf16-4x256-5e-3': candidate('bf16', 4, 256, 5e-3),
    'bf16-3x128-3e-3': candidate('bf16', 3, 128, 3e-3),
    'bf16-5x128-3e-3': candidate('bf16', 5, 128, 3e-3),
    # the fp32 table (any CPU; --precision fp32)
    'fp32-4x128-5e-3': candidate('fp32', 4, 128, 5e-3),     # the bf16 schedule in fp32
    'fp32-3x128-5e-3': candidate('fp32', 3, 128, 5e-3),
    'fp32-3x256-5e-3': candidate('fp32', 3, 256, 5e-3),
    'fp32-3x256-7e-3': candidate('fp32', 3, 256, 7e-3),
    'fp32-2.5x256-7e-3': candidate('fp32', 2.5, 256, 7e-3),
    'fp32-2.5x128-5e-3': candidate('fp32', 2.5, 128, 5e-3),
    'fp32-3.5x128-5e-3': candidate('fp32', 3.5, 128, 5e-3),
    'fp32-3x128-7e-3': candidate('fp32', 3, 128, 7e-3),
}

candidate_list = cli.checked_type(lambda text: text.split(','),
                                  lambda items: set(items) <= set(CANDIDATES),
                                  'candidates from ' + ', '.join(CANDIDATES))
# The seeds the recipe's test accuracy is claimed on (bf16: 1-5; fp32: 11-15): never tuned.
TEST_SEEDS = frozenset(range(1, 6)) | frozenset(range(11, 16))
seed_list = cli.checked_type(lambda text: [int(s) for s in text.split(',')],
                             lambda seeds: all(s > 0 and s not in TEST_SEEDS for s in seeds),
                             'positive seeds other than 1-5 and 11-15 (the untuned test seeds)')


def validation_accuracy(config):
    """The validation accuracy of config's newest checkpoint."""
    validation = mnist_data.read_data_sets(config.data_dir).validation
    with checkpoints.open_checkpoint(deep_cnn.deepnn,
                                     checkpoint_dir=config.checkpoint_dir) as net:
        probabilities = net.predict(validation.images)
    return float((probabilities.argmax(1) == validation.labels).mean())


def tune_one(name, seed, work_dir):
    """(validation accuracy, train s) of one candidate and seed."""
    ckpt = os.path.join(work_dir, '%s-s%d' % (name, seed))
    config = deep_cnn.resolve('fast', seed=seed, data_dir=common.DATA_DIR, checkpoint_dir=ckpt,
                              log_dir=ckpt + '-logs', summary_every=0, log_every=0)
    config = dataclasses.replace(config, tuned_for=CANDIDATES[name]['precision'],
                                 **CANDIDATES[name])
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = deep_cnn.run(config, fresh=True)   # stdout has the test accuracy: not shown
    if code:
        sys.exit('error: %s seed %d failed (exit %d): %s' % (name, seed, code,
                                                             err.getvalue().strip()[-300:]))
    return validation_accuracy(config), record.read_run_json(ckpt)['wall_time_s']


def main():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--candidates', type=candidate_list,
                        default=[n for n in CANDIDATES if n.startswith('fp32')],
                        help='comma-separated (default: the fp32 ones): ' + ', '.join(CANDIDATES))
    parser.add_argument('--seeds', type=seed_list, default=[101, 102, 103],
                        help='tuning seeds, not 1-5 or 11-15 (default 101,102,103)')
    args = parser.parse_args()
    tfstart.import_tf()
    load = common.warn_if_busy('bench_tune')
    cpu = machine.cpu_class()
    print('CPU class: %s (%s)' % (cpu, machine.cpu_model()), flush=True)
    names = [n for n in args.candidates
             if CANDIDATES[n]['precision'] == recipes.computes_in(CANDIDATES[n]['precision'])]
    for n in sorted(set(args.candidates) - set(names)):
        print('%s: skipped, this CPU has no native bfloat16' % n)
    results = {n: {} for n in names}
    with tempfile.TemporaryDirectory(prefix='bench_tune_') as tmp:
        for seed in args.seeds:                 # seed by seed: drift hits all candidates
            for n in names:
                results[n][seed] = tune_one(n, seed, tmp)
                print('%-20s seed %4d  validation %.4f  train %6.1f s' % (
                    n, seed, *results[n][seed]), flush=True)
    print('\n| candidate | steps x batch | validation, seeds %s | mean | train s (mean) |'
          % ' / '.join(map(str, args.seeds)))
    print('|---|---|---|---|---|')
    for n in names:
        c = CANDIDATES[n]
        accs = [results[n][s][0] for s in args.seeds]
        print('| %s | %d x %d | %s | %.4f | %.0f |' % (
            n, c['steps'], c['batch_size'], ' / '.join('%.4f' % a for a in accs),
            statistics.mean(accs), statistics.mean(results[n][s][1] for s in args.seeds)))
    common.write_report('tune', load, cpu_class=cpu, seeds=args.seeds,
                        validation={n: {str(s): v for s, v in r.items()}
                                    for n, r in results.items()},
                        candidates={n: CANDIDATES[n] for n in names})
    return 0


if __name__ == '__main__':
    sys.exit(main())
