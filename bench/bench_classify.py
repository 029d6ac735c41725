"""classify.py on the photo sets: accuracy (prepared, naive) and time against a rerun.

    python bench/bench_classify.py --checkpoint_dir train_data/fast [--count 300] [--rounds 3]

deep_mnist/photos.py's three sets (seed 0, --count each: all paper, sheets on tables,
numbers) go into temporary folders. Accuracy: one restored checkpoint reads each photo
prepared as classify.py does, and naively (opened, grey, resized to 28x28); a number is
right when all its digits are. Time: whole processes alternating --rounds times,
``classify.py --checkpoint_dir D PHOTOS`` (and TABLES) against ``deep_cnn.py ... --steps
S``, which evaluates the 10000 test digits again; the medians' ratio (goal: at most 2).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image

import common
import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, handwriting, photos


def naive_input(path):
    """What a new user feeds the network: the photo in grey, resized to 28x28, in [0, 1]."""
    with Image.open(path) as image:
        grey = image.convert('L').resize((28, 28), Image.BILINEAR)
    return np.asarray(grey, np.float32).reshape(784) / 255


def accuracies(checkpoint_dir, sets):
    """{set: accuracy prepared, set + ' naive': resized naively} of the checkpoint on
    ``sets`` ({kind: (directory, labels)}); a number right when all its digits are."""
    acc = {}
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=checkpoint_dir) as net:
        for kind, (directory, labels) in sets.items():
            paths = {os.path.join(directory, n): str(label) for n, label in labels.items()}
            read = handwriting.prepare_number if kind == 'numbers' else handwriting.prepare
            inputs = [read(handwriting.load_image(p)).inputs for p in paths]   # one predict
            digits = np.split(net.predict(np.concatenate(inputs)).argmax(1),
                              np.cumsum([len(i) for i in inputs])[:-1])
            acc[kind] = float(np.mean([''.join(map(str, d)) == t
                                       for d, t in zip(digits, paths.values())]))
            if kind != 'numbers':
                naive = net.predict(np.stack([naive_input(p) for p in paths])).argmax(1)
                acc[kind + ' naive'] = float(np.mean(naive.astype(str) == list(paths.values())))
        return dict(acc, checkpoint=net.prefix, recipe=net.config.recipe, step=net.step)


def timed(command):
    """Wall seconds of a whole process; its output must say it succeeded."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=common.REPO_ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit('bench_classify: %s failed:\n%s' % (' '.join(command), proc.stderr[-2000:]))
    return time.perf_counter() - start


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--checkpoint_dir', default='train_data/fast',
                   help='a finished deep_cnn.py run (default: train_data/fast)')
    p.add_argument('--count', type=cli.positive_int, default=300, help='of each set (default: 300)')
    p.add_argument('--rounds', type=cli.positive_int, default=3,
                   help='timed runs of each command (default: 3)')
    args = p.parse_args(argv)
    load = common.warn_if_busy('bench_classify')
    with open(os.path.join(args.checkpoint_dir, 'run.json')) as f:
        run = json.load(f)      # the rerun must compute as the run did, or it is refused
    test = mnist_data.read_data_sets(common.DATA_DIR).test
    with tempfile.TemporaryDirectory() as tmp:
        sets = {kind: (os.path.join(tmp, kind), photos.write_photo_set(
            os.path.join(tmp, kind), test.images, test.labels, args.count, kind=kind))
            for kind in ('photos', 'tables', 'numbers')}
        acc = accuracies(args.checkpoint_dir, sets)
        print('%d of each set, %s step %d: right prepared as MNIST was (classify.py), '
              'resized naively to 28x28' % (args.count, acc['recipe'], acc['step']))
        for kind in sets:
            print('  %-8s %5.1f %%  %s' % (kind, 100 * acc[kind], '%.1f %%' % (
                100 * acc[kind + ' naive']) if kind != 'numbers' else '(whole numbers)'))
        commands = {kind: [sys.executable, 'classify.py', '--checkpoint_dir',
                           args.checkpoint_dir, os.path.join(tmp, kind)]
                    for kind in ('photos', 'tables')}
        commands['rerun'] = [sys.executable, 'deep_cnn.py', '--checkpoint_dir',
                             args.checkpoint_dir, '--recipe', acc['recipe'], '--steps',
                             str(run['steps']), '--precision', run['config']['precision'],
                             '--data_dir', common.DATA_DIR]
        times = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(timed(command))
    median = {name: statistics.median(t) for name, t in times.items()}
    ratio = {kind: median[kind] / median['rerun'] for kind in commands if kind != 'rerun'}
    print('time, median of %d (s): classify.py on %d photos %.2f, on %d tables %.2f; an '
          'evaluating rerun %.2f: %.2fx, %.2fx' % (args.rounds, args.count, median['photos'],
          args.count, median['tables'], median['rerun'], ratio['photos'], ratio['tables']))
    common.write_report('classify', load, photos=args.count, accuracy=acc, times=times,
                        median=median, ratio=ratio)
    return 0


if __name__ == '__main__':
    sys.exit(main())
