"""classify.py on the photo set: accuracy prepared vs resized naively, and its time
against an evaluating rerun of the same checkpoint.

    python bench/bench_classify.py --checkpoint_dir train_data/fast [--count 300] [--rounds 3]

The photo set is made by deep_mnist/photos.py from the first --count MNIST test digits
(seed 0) into a temporary folder. Accuracy: the same restored checkpoint reads each
photo prepared as classify.py prepares it, and naively, as a new user would: the file
opened, made grey and resized to 28x28 (ink dark, as the photo has it). Time: whole
processes, run one after the other --rounds times, alternating: ``classify.py
--checkpoint_dir D PHOTOS`` against ``deep_cnn.py --checkpoint_dir D --steps S``, which
on a finished run restores the checkpoint and evaluates the 10000 test digits again;
the ratio of the medians (the goal: at most 2).
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

import common
import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, handwriting, photos


def naive_input(path):
    """What a new user feeds the network: the photo in grey, resized to 28x28, in [0, 1]."""
    from PIL import Image
    with Image.open(path) as image:
        grey = image.convert('L').resize((28, 28), Image.BILINEAR)
    return np.asarray(grey, np.float32).reshape(784) / 255


def accuracies(checkpoint_dir, directory, labels):
    """{'prepared': accuracy, 'naive': accuracy} of the checkpoint on the photos."""
    names = sorted(labels)
    paths = [os.path.join(directory, n) for n in names]
    truth = np.array([labels[n] for n in names])
    prepared = np.stack([handwriting.prepare_file(p).input for p in paths])
    naive = np.stack([naive_input(p) for p in paths])
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=checkpoint_dir) as net:
        return {'prepared': float(np.mean(net.predict(prepared).argmax(1) == truth)),
                'naive': float(np.mean(net.predict(naive).argmax(1) == truth)),
                'checkpoint': net.prefix, 'recipe': net.config.recipe, 'step': net.step}


def timed(command):
    """Wall seconds of a whole process; its output must say it succeeded."""
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=common.REPO_ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit('bench_classify: %s failed:\n%s' % (' '.join(command), proc.stderr[-2000:]))
    return seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--checkpoint_dir', default='train_data/fast',
                   help='a finished deep_cnn.py run (default: train_data/fast)')
    p.add_argument('--count', type=cli.positive_int, default=300, help='photos (default: 300)')
    p.add_argument('--rounds', type=cli.positive_int, default=3,
                   help='timed runs of each command (default: 3)')
    args = p.parse_args(argv)
    load = common.warn_if_busy('bench_classify')
    with open(os.path.join(args.checkpoint_dir, 'run.json')) as f:
        steps = json.load(f)['steps']
    test = mnist_data.read_data_sets(common.DATA_DIR).test
    with tempfile.TemporaryDirectory() as directory:
        labels = photos.write_photo_set(directory, test.images, test.labels, args.count)
        acc = accuracies(args.checkpoint_dir, directory, labels)
        print('%d photos of MNIST test digits, %s step %d:' % (args.count, acc['recipe'],
                                                               acc['step']))
        print('  prepared as MNIST was (classify.py)  %.1f %%' % (100 * acc['prepared']))
        print('  resized naively to 28x28            %.1f %%' % (100 * acc['naive']))
        python = sys.executable
        commands = {
            'classify': [python, 'classify.py', '--checkpoint_dir', args.checkpoint_dir,
                         directory],
            'rerun': [python, 'deep_cnn.py', '--checkpoint_dir', args.checkpoint_dir,
                      '--recipe', acc['recipe'], '--steps', str(steps),
                      '--data_dir', common.DATA_DIR]}
        times = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                times[name].append(timed(command))
    median = {name: statistics.median(t) for name, t in times.items()}
    ratio = median['classify'] / median['rerun']
    print('time, median of %d (s): classify.py on %d photos %.2f, evaluating rerun %.2f: '
          '%.2fx' % (args.rounds, args.count, median['classify'], median['rerun'], ratio))
    common.write_report('classify', load, photos=args.count, accuracy=acc, times=times,
                        median=median, ratio=ratio)
    return 0


if __name__ == '__main__':
    sys.exit(main())
