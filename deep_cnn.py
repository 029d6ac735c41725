"""Deep MNIST for Experts on TensorFlow 2, in ``tf.compat.v1`` graphs and sessions so the
code reads beside the tutorial; its variants are recipes (``deep_mnist/recipes.py``), and
what is not the tutorial (checkpoints, run.json, signals, ...) is ``deep_mnist.training``."""

import collections
import math
import random
import sys

import numpy as np

import mnist_data
from deep_mnist import checkpoints, cli, signals, summaries, tfstart, training
from deep_mnist.recipes import FLAGS, RECIPES, learning_rate_at, resolve

# tensorflow.compat.v1, bound once the flags are known: a wrong flag is answered at once.
tf = None


def _bind_tf():
    global tf
    tf = tfstart.import_tf()


def weight_variable(shape, config, name):
    """A weight variable with a little noise, to break symmetry."""
    if config.init == 'random_normal':
        initial = tf.random_normal(shape, seed=config.weight_seed)
    else:
        initial = tf.truncated_normal(shape, stddev=0.1, seed=config.weight_seed)
    return tf.Variable(initial, name=name)


def bias_variable(shape, config, name):
    """A bias variable, slightly positive for ReLUs (the tutorial) or as the write-up had it."""
    if config.bias_init is None:
        return tf.Variable(tf.random_normal(shape), name=name)
    return tf.Variable(tf.constant(config.bias_init, shape=shape), name=name)


def conv2d(x, W):
    """A 2-D convolution with stride 1 and zero padding: the output keeps the input's size."""
    return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding='SAME')


def max_pool_2x2(x):
    """Max pooling over 2x2 blocks: halves width and height."""
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='SAME')


# What deepnn() builds. y_conv: the logits, or their softmax (probabilities) where the recipe
# says so; layers ('h_pool1', ...) and variables ('W_conv1', ...) by tutorial name.
Net = collections.namedtuple('Net', 'y_conv logits probabilities keep_prob layers variables')


def deepnn(x, config):
    """Build the recipe's network on x, a batch of flattened images [N, 784]."""
    _bind_tf()
    layers, variables = {}, {}

    def var(make, shape, name):
        variables[name] = make(shape, config, name)
        return variables[name]

    def add_bias(h, b):
        return tf.nn.bias_add(h, b) if config.bias_add else h + b

    # The convolutions want images: [N, 784] -> [N, 28, 28, 1] (one grey channel).
    with tf.name_scope('reshape'):
        x_image = tf.reshape(x, [-1, 28, 28, 1])

    if config.network == 'single_conv':
        # Write-up 001's edge detector: 16 filters, and |conv| - 0.2 through a ReLU
        # keeps strong edges of either sign.       [N, 28, 28, 1] -> [N, 28, 28, 16]
        with tf.name_scope('conv1'):
            W_conv1 = var(weight_variable, [5, 5, 1, 16], 'W_conv1')
            h_conv1 = tf.nn.relu(tf.abs(conv2d(x_image, W_conv1)) - 0.2)
        with tf.name_scope('pool1'):                # -> [N, 14, 14, 16]
            h_pool1 = max_pool_2x2(h_conv1)
        features, h_last, fc_units = 14 * 14 * 16, h_pool1, 16
    else:
        # First convolutional layer: 32 features from each 5x5 patch.
        with tf.name_scope('conv1'):                # [N, 28, 28, 1] -> [N, 28, 28, 32]
            W_conv1 = var(weight_variable, [5, 5, 1, 32], 'W_conv1')
            b_conv1 = var(bias_variable, [32], 'b_conv1')
            h_conv1 = tf.nn.relu(add_bias(conv2d(x_image, W_conv1), b_conv1))
        with tf.name_scope('pool1'):                # -> [N, 14, 14, 32]
            h_pool1 = max_pool_2x2(h_conv1)
        # Second convolutional layer: 64 features from each 5x5 patch of the 32 maps.
        with tf.name_scope('conv2'):                # -> [N, 14, 14, 64]
            W_conv2 = var(weight_variable, [5, 5, 32, 64], 'W_conv2')
            b_conv2 = var(bias_variable, [64], 'b_conv2')
            h_conv2 = tf.nn.relu(add_bias(conv2d(h_pool1, W_conv2), b_conv2))
        with tf.name_scope('pool2'):                # -> [N, 7, 7, 64]
            h_pool2 = max_pool_2x2(h_conv2)
        features, h_last, fc_units = 7 * 7 * 64, h_pool2, 1024
        layers.update(W_conv2=W_conv2, h_conv2=h_conv2, h_pool2=h_pool2)

    # Fully connected layer: every pooled feature to 1024 units (16 in write-up 001).
    with tf.name_scope('fc1'):                      # [N, 7*7*64] -> [N, 1024]
        W_fc1 = var(weight_variable, [features, fc_units], 'W_fc1')
        b_fc1 = var(bias_variable, [fc_units], 'b_fc1')
        h_flat = tf.reshape(h_last, [-1, features])
        h_fc1 = tf.nn.relu(tf.matmul(h_flat, W_fc1) + b_fc1)

    # Dropout while training; the default of 1.0 leaves it off for evaluation.
    keep_prob = tf.placeholder_with_default(1.0, shape=[], name='keep_prob')
    h_fc1_drop = h_fc1
    if config.dropout:
        with tf.name_scope('dropout'):
            # the tutorial's tf.nn.dropout(h_fc1, keep_prob), without TF 2's deprecation
            h_fc1_drop = tf.nn.dropout(h_fc1, rate=1 - keep_prob)

    # Readout: one score per digit.
    with tf.name_scope('fc2'):                      # [N, 1024] -> [N, 10]
        W_fc2 = var(weight_variable, [fc_units, 10], 'W_fc2')
        b_fc2 = var(bias_variable, [10], 'b_fc2')
        logits = tf.matmul(h_fc1_drop, W_fc2) + b_fc2
    probabilities = tf.nn.softmax(logits, name='probabilities')
    y_conv = probabilities if config.output == 'softmax' else logits

    layers.update(x_image=x_image, W_conv1=W_conv1, h_conv1=h_conv1, h_pool1=h_pool1,
                  h_fc1=h_fc1, logits=logits)
    return Net(y_conv, logits, probabilities, keep_prob, layers, variables)


# The training graph and the loop's handles (full_summaries may be None; weights_saver: snapshots).
Model = collections.namedtuple('Model', 'graph x y_ net cross_entropy train_step global_step '
                               'accuracy example_loss_sum full_summaries saver weights_saver '
                               'learning_rate')


def build_model(config):
    """Placeholders, the network, the recipe's loss and optimiser, metrics, summaries."""
    _bind_tf()
    graph = tf.Graph()
    with graph.as_default():
        # A seed of its own if unseeded: a seeded run's op determinism is process-wide.
        tf.set_random_seed(config.seed if config.seed is not None
                           else random.SystemRandom().randrange(2 ** 31))
        with tf.name_scope('input'):
            x = tf.placeholder(tf.float32, shape=[None, 784], name='x-input')
            y_ = tf.placeholder(tf.float32, shape=[None, 10], name='y-input')
        net = deepnn(x, config)

        with tf.name_scope('cross_entropy'):
            if config.loss == 'sum_neg_log':
                # write-ups 000/001 as written: NaN once a probability underflows to 0.
                example_loss = -tf.reduce_sum(y_ * tf.log(net.y_conv), axis=1)
                cross_entropy = tf.reduce_sum(example_loss)
            else:
                ce = tf.nn.softmax_cross_entropy_with_logits_v2
                example_loss, e = ce(labels=y_, logits=net.logits), config.label_smoothing
                cross_entropy = tf.reduce_mean(
                    ce(labels=(1 - e) * y_ + e / 10, logits=net.logits) if e else example_loss)
            # Summed per example, so train and test curves compare across recipes.
            example_loss_sum = tf.reduce_sum(example_loss)
        global_step = tf.train.get_or_create_global_step()
        with tf.name_scope('train'):
            rate = tf.placeholder_with_default(config.learning_rate, [], 'learning_rate')
            optimizer = {'gd': tf.train.GradientDescentOptimizer, 'adam': tf.train.AdamOptimizer}[
                config.optimizer](rate)
            train_step = optimizer.minimize(cross_entropy, global_step=global_step)
        with tf.name_scope('accuracy'):
            correct_prediction = tf.equal(tf.argmax(net.y_conv, 1), tf.argmax(y_, 1))
            accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

        full = summaries.add_full_summaries(net) if config.full_summaries else None
        # No .meta files: readers rebuild the graph with deepnn(), as the visualiser does.
        saver = tf.train.Saver(max_to_keep=None, save_relative_paths=True)
        weights = tf.train.Saver(list(net.variables.values()), save_relative_paths=True)
    return Model(graph, x, y_, net, cross_entropy, train_step, global_step, accuracy,
                 example_loss_sum, full, saver, weights, rate)


def train(sess, model, mnist, config, run):
    """The tutorial's loop; ``run`` (deep_mnist.training.Run) does all the rest."""
    x, y_, keep_prob = model.x, model.y_, model.net.keep_prob
    for step in range(run.start, config.steps):
        batch = mnist.train.next_batch(config.batch_size)
        train_accuracy = run.look_at(step, batch)    # dropout off; None between lines
        if config.log_every and step % config.log_every == 0:
            print('step %d, training accuracy %g' % (step, train_accuracy), flush=True)
        feed = {x: batch[0], y_: batch[1], keep_prob: config.keep_prob,
                model.learning_rate: learning_rate_at(config, step)}   # the recipe's schedule
        _, loss = sess.run([model.train_step, model.cross_entropy], feed_dict=feed)
        if not math.isfinite(loss):
            return run.diverged(step)
        run.after_step(step + 1, loss)               # epoch losses, progress, checkpoints
        if run.stop:
            return run.interrupted(step + 1)
    test_accuracy = run.test(config.steps)          # saves, then all 10000 test digits
    if test_accuracy is None:
        return run.interrupted(config.steps)
    print('test accuracy %g' % test_accuracy, flush=True)
    return 0


def evaluate(sess, model, images, labels, batch_size=checkpoints.EVAL_BATCH, stop=None):
    """(accuracy, mean cross entropy) on images and one-hot labels; None if ``stop`` came."""
    out = checkpoints.forward(sess, model.x, {'p': model.net.probabilities}, images,
                              batch_size, stop)
    if out is None:
        return None
    truth = labels.argmax(1)
    # A probability that underflowed to 0 counts as float32's smallest, not as inf.
    seen = np.maximum(out['p'][np.arange(len(truth)), truth], np.finfo(np.float32).tiny)
    return float(np.mean(out['p'].argmax(1) == truth)), float(-np.log(seen).mean())


def parse_args(argv=None):
    """(Config, fresh): each flag overrides the recipe's value; bad values exit 2 at once."""
    p = cli.ArgumentParser(
        description='Train the Deep MNIST for Experts CNN (or a write-up variant).',
        epilog='Recipes: ' + '; '.join('%s (from %s, %s x %s, expect %s)' % (
            n, r.source, '%d steps' % r.steps if r.steps else '%d epochs' % r.epochs,
            r.batch_size, r.expect) for n, r in RECIPES.items()))
    add, count = p.add_argument, cli.nonnegative_int
    add('--recipe', choices=RECIPES, default='expert',
        help='network and schedule (default: expert, the tutorial)')
    add('--data_dir', help='MNIST files (default: $MNIST_DATA_DIR or MNIST_data)')
    add('--steps', type=count, help='total training steps, counting resumed ones (recipe: 20000)')
    add('--batch_size', help='(recipe: 50)', type=cli.checked_type(
        int, lambda v: 1 <= v <= mnist_data.TRAIN_EXAMPLES,
        'an integer from 1 to %d (the training images)' % mnist_data.TRAIN_EXAMPLES))
    add('--learning_rate', type=cli.positive_float, help='(recipe: 1e-4)')
    add('--keep_prob', type=cli.probability, help='dropout keep probability (recipe: 0.5)')
    add('--log_every', type=count, help='a step line every N steps, 0 for none (recipe: 100)')
    add('--checkpoint_dir', help='(default: train_data/<recipe>)')
    add('--checkpoint_every', type=count,
        help='save every N steps, 0 for only at the end (recipe: 2000)')
    add('--log_dir', help='TensorBoard logs (default: logs/<recipe>)')
    add('--summary_every', type=count,
        help='TensorBoard scalars every N steps, 0 for none (recipe: 500)')
    add('--full_summaries', action='store_true', default=None,
        help="write-up 002's variable, histogram and image summaries too")
    add('--precision', choices=('fp32', 'bf16'),
        help='bf16: mixed precision where the CPU has native bfloat16 (avx512_bf16, amx_bf16), '
             'else fp32 and a line says so (recipe: fp32; fast: bf16)')
    add('--seed', type=cli.seed_int, help='make the run repeatable on this machine')
    add('--fresh', action='store_true',
        help="start over: remove this run's checkpoints, snapshots, run.json, logs")
    args = p.parse_args(argv)
    return resolve(args.recipe, **{f: getattr(args, f) for f in FLAGS}), args.fresh


def run(config, fresh=False, mnist=None):
    """Train config's run (on ``mnist`` if given); the exit code. A stop signal saves first."""
    with signals.stop_requests() as stop:
        return training.run(config, fresh, stop, build_model, evaluate, train, mnist)


def main(argv=None):
    config, fresh = parse_args(argv)
    return run(config, fresh)


if __name__ == '__main__':
    sys.exit(signals.exit_quietly(main))
