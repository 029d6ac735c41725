"""Softmax regression, the first model of "Deep MNIST for Experts", in the tutorial's
``InteractiveSession`` style as write-ups 003 (``--recipe expert``) and 000 wrote it."""

import contextlib
import dataclasses
import os
import platform
import sys
import time

import numpy as np

import mnist_data
from deep_mnist import cli, rundir, signals, tfstart
from deep_mnist.recipes import SOFTMAX_RECIPES as RECIPES


def softmax_regression(mnist, recipe, seed=None):
    """(test accuracy, seconds of training) of the tutorial's model on ``mnist``
    (one_hot=True); FloatingPointError if training diverged."""
    tf = tfstart.import_tf()
    tf.reset_default_graph()  # a fresh graph per call, so one process can train twice
    if seed is not None:
        tf.set_random_seed(seed)
        # compat.v1 lacks enable_op_determinism; the v2 switch is process-wide.
        tf.compat.v2.config.experimental.enable_op_determinism()

    # InteractiveSession, unlike Session, is no context manager
    with contextlib.closing(tfstart.new_session(interactive=True)) as sess:
        x = tf.placeholder(tf.float32, shape=[None, 784])
        y_ = tf.placeholder(tf.float32, shape=[None, 10])
        W = tf.Variable(tf.zeros([784, 10]))
        b = tf.Variable(tf.zeros([10]))
        sess.run(tf.global_variables_initializer())

        if recipe.loss == 'logits':
            # 003: y holds the logits; the stable formula applies softmax inside.
            y = tf.matmul(x, W) + b
            cross_entropy = tf.reduce_mean(
                tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))
        else:
            # 000: summed over the batch by hand, so GD 0.01 moves about as far as 0.5 on a mean.
            y = tf.nn.softmax(tf.matmul(x, W) + b)
            cross_entropy = -tf.reduce_sum(y_ * tf.log(y))
        train_step = tf.train.GradientDescentOptimizer(recipe.learning_rate).minimize(cross_entropy)

        start = time.perf_counter()
        for _ in range(recipe.steps):
            batch = mnist.train.next_batch(recipe.batch_size)
            train_step.run(feed_dict={x: batch[0], y_: batch[1]})
        seconds = time.perf_counter() - start
        # A NaN gives no error, only a 0.098 accuracy (argmax of NaN is class 0).
        if not np.isfinite(W.eval()).all():
            raise FloatingPointError(
                'training diverged: the weights are NaN or inf (with --recipe original, '
                'log(0) in the hand-written cross entropy); try a smaller --learning_rate')

        correct_prediction = tf.equal(tf.argmax(y, 1), tf.argmax(y_, 1))
        accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
        return accuracy.eval(feed_dict={x: mnist.test.images, y_: mnist.test.labels}), seconds


def parse_args(argv):
    parser = cli.ArgumentParser(
        description='Softmax regression on MNIST, step one of "Deep MNIST for Experts".')
    parser.add_argument('--recipe', choices=RECIPES, default='expert',
                        help='expert: text 003, logits and mean CE; original: text 000, '
                             'softmax and -reduce_sum(y_*log(y)) (default: expert)')
    parser.add_argument('--data_dir', default=mnist_data.default_data_dir(),
                        help='where the MNIST files live (default: $MNIST_DATA_DIR or MNIST_data)')
    for flag, kind, what in (('steps', cli.nonnegative_int, 'training steps'),
                             ('batch_size', cli.positive_int, 'examples per step'),
                             ('learning_rate', cli.positive_float, 'gradient descent step size')):
        defaults = ', '.join('%s %s' % (r.name, getattr(r, flag)) for r in RECIPES.values())
        parser.add_argument('--' + flag, type=kind, help='%s (default: %s)' % (what, defaults))
    parser.add_argument('--seed', type=cli.seed_int,
                        help='seed TF, numpy and the batch order (default: unseeded)')
    parser.add_argument('--record', metavar='PATH',
                        help="also write the result to PATH in run.json's fields (default: none)")
    args = parser.parse_args(argv)
    where = args.record and os.path.dirname(os.path.abspath(args.record))
    if where and not os.path.isdir(where):
        parser.error('argument --record: no directory %s to write it in' % where)
    return args


def main(argv=None):
    args = parse_args(argv)
    overrides = {field: getattr(args, field) for field in ('steps', 'batch_size', 'learning_rate')
                 if getattr(args, field) is not None}
    recipe = dataclasses.replace(RECIPES[args.recipe], **overrides)
    return cli.reported('softmax_baseline', lambda: run(recipe, args), (
        mnist_data.MNISTDataError, FloatingPointError, rundir.RunError))


def run(recipe, args):
    if args.seed is not None:
        np.random.seed(args.seed)
    mnist = mnist_data.read_data_sets(args.data_dir, one_hot=True, seed=args.seed)
    acc, seconds = softmax_regression(mnist, recipe, seed=args.seed)
    steps_per_s = recipe.steps / seconds if seconds > 0 else None
    if args.record:   # run.json's fields; wall_time_s: the training loop
        try:
            rundir.write_json(args.record, {
                'script': os.path.basename(__file__), 'recipe': recipe.name, 'seed': args.seed,
                'config': dataclasses.asdict(recipe), 'status': 'finished',
                'steps': recipe.steps, 'test_accuracy': float('%g' % acc),   # as printed
                'wall_time_s': round(seconds, 3),
                'steps_per_s': steps_per_s and round(steps_per_s, 1),
                'tensorflow': tfstart.import_tf().__version__, 'python': platform.python_version()})
        except OSError as e:
            raise rundir.RunError('cannot write %s: %s' % (args.record, e.strerror or e)) from None
    print('test accuracy %g' % acc)
    print('softmax_baseline: recipe %s (text %s, expect %s): %d steps x %d, GD %g, '
          '%.1f s, %.0f steps/s' % (recipe.name, recipe.source, recipe.expect, recipe.steps,
                                    recipe.batch_size, recipe.learning_rate, seconds,
                                    steps_per_s or 0), file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(signals.quiet_if_stdout_closes(main))
