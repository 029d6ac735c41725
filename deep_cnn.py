"""Deep MNIST for Experts: the tutorial's convolutional network, on TensorFlow 2.

Two 5x5 convolution + 2x2 max-pool layers (32 and 64 filters), a 1024-unit fully
connected layer, dropout and a 10-way readout, trained with Adam, as in the
official tutorial (seed 003) and ``mnist_deep.py``; the write-ups' variants are
rows of ``RECIPES``. Written with ``tf.compat.v1`` graphs and sessions so the code
reads beside the tutorial.

    python deep_cnn.py                         # 20000 steps of 50, ~99.2 %
    python deep_cnn.py --recipe single_conv    # seed 001's one-layer edge detector
    python deep_cnn.py --steps 500 --fresh     # a short run, starting over

The pipeline: ``parse_args`` turns the command line into one ``Config`` (a recipe
row with the flags applied); ``train`` builds the graph from it, restores or
initialises, runs the tutorial's loop and finishes (save, test, report). The config
is written into ``run.json`` beside the checkpoints, so a resume and the visualiser
know exactly what trained them.

stdout carries the tutorial's lines (``step N, training accuracy A`` and
``test accuracy A``); progress goes to stderr. Checkpoints go to
``train_data/<recipe>`` and a rerun resumes there; TensorBoard logs go to
``logs/<recipe>`` (``tensorboard --logdir logs``).
"""

import contextlib
import dataclasses
import datetime
import glob
import math
import os
import platform
import random
import signal
import sys
import time

import numpy as np

import mnist_data
import runs

# tensorflow.compat.v1, bound by _bind_tf() once the flags are known: importing
# TensorFlow takes seconds, and a wrong flag should be answered at once.
tf = None

EVAL_BATCH = 1000      # test images per forward pass: bounded memory, same accuracy
TRAIN_EXAMPLES = 55000  # read_data_sets' training split (60000 less 5000 for validation)
KEEP_LAST = 3          # checkpoints kept besides the milestones


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything that defines a run: a row of RECIPES, with the command line's
    overrides applied by resolve(). Written in full into run.json."""
    recipe: str                        # the row's name
    source: str                        # the write-up it comes from
    # the network
    network: str = 'two_conv'          # or 'single_conv'
    init: str = 'truncated_normal'     # stddev 0.1; or 'random_normal' (stddev 1)
    weight_seed: int = None            # an op seed for every weight (001: 1; see RECIPES)
    bias_init: float = 0.1             # None: random_normal, like the weights
    bias_add: bool = False             # conv bias through tf.nn.bias_add (004)
    dropout: bool = True
    output: str = 'logits'             # or 'softmax'
    # the training
    loss: str = 'mean_cross_entropy'   # or 'sum_neg_log': -reduce_sum(y_*log(y_conv))
    optimizer: str = 'adam'            # or 'gd'
    learning_rate: float = 1e-4        # the rate, or the peak of a schedule
    schedule: str = 'constant'         # or 'linear' / 'cosine': after `warmup`, down to 0
    warmup: float = 0.0                # fraction of the steps over which the rate ramps up
    label_smoothing: float = 0.0       # train on (1 - e) * y_ + e / 10
    precision: str = 'fp32'            # or 'bf16': oneDNN mixed precision where the CPU
                                       # has native bfloat16 (else fp32; see session_config)
    steps: int = 20000                 # None: as many as `epochs` take
    epochs: int = 0                    # > 0: also print the loss of every epoch (004)
    batch_size: int = 50
    keep_prob: float = 0.5
    # what the run shows and keeps; none of these changes the math
    log_every: int = 100
    checkpoint_every: int = 2000
    keep_every: int = 0                # also keep every checkpoint at a multiple of this
    # A test/ scalar costs a forward pass over test_summary_size images; every 500 steps
    # that is ~1 % of the tutorial's training time (every 100: ~7 %).
    summary_every: int = 500
    test_summary_size: int = 1000      # test images behind each test/ scalar
    full_summaries: bool = False
    expect: str = ''                   # what the write-up promises
    # where the run lives, and its randomness
    seed: int = None
    data_dir: str = None
    checkpoint_dir: str = None
    log_dir: str = None


# Fields a flag may override.
FLAGS = ('steps', 'batch_size', 'learning_rate', 'keep_prob', 'log_every', 'checkpoint_every',
         'summary_every', 'full_summaries', 'precision', 'seed', 'data_dir', 'checkpoint_dir',
         'log_dir')
# Fields a resumed run may change (and says it does); any other difference from the
# run.json config means the checkpoints belong to another recipe.
RESUMABLE = FLAGS + ('keep_every', 'test_summary_size', 'expect', 'source')
# Of those, the ones that change the training from the resumed step on.
CHANGES_THE_MATH = ('batch_size', 'learning_rate', 'keep_prob', 'precision', 'seed')

RECIPES = {c.recipe: c for c in (
    # The tutorial; every 5000th checkpoint stays, to compare the filters over training.
    Config('expert', '003, official mnist_deep.py', keep_every=5000, expect='0.992'),
    Config('original', '000, 001', output='softmax', loss='sum_neg_log', keep_every=5000,
           expect='0.9924'),
    # 001's first network: 16 edge-detecting filters, no conv bias, 16 FC units. Its
    # bias_variable is tf.constant(0,1, shape=shape): the 1 is taken as the dtype, so
    # the biases start at 0, not 0.1; and its weight_variable passes seed=1, so all three
    # weight matrices are drawn from the start of one random stream. We follow the code
    # as it ran.
    Config('single_conv', '001 part 1', network='single_conv', weight_seed=1, bias_init=0.0,
           dropout=False, output='softmax', loss='sum_neg_log', optimizer='gd',
           learning_rate=0.001, steps=1001, batch_size=100, keep_prob=1.0, log_every=10,
           expect='0.975'),
    # 002 logs everything, and the full test set every 100 steps, over 3000 steps.
    Config('summaries', '002', steps=3000, full_summaries=True, summary_every=100,
           test_summary_size=10000, checkpoint_every=1000, expect='~0.98'),
    # 004: random_normal (stddev 1) weights and biases, no dropout, Adam's default
    # rate, 3 epochs of 128, per-epoch losses instead of step lines.
    Config('epochs', '004', init='random_normal', bias_init=None, bias_add=True,
           dropout=False, learning_rate=0.001, steps=None, epochs=3, batch_size=128,
           keep_prob=1.0, log_every=0, checkpoint_every=0, expect='report'),
    # Not a seed's: the expert network (same layers, sizes, dropout) on a schedule for a
    # 2-core CPU, chosen on the validation split (README: fast). Four epochs of 128;
    # Adam's rate climbs to 5e-3 over the first 5 % and falls linearly to 0; labels
    # smoothed by 0.1; bf16 where the CPU has it (~1.7x the images/s of fp32).
    Config('fast', 'this project', learning_rate=5e-3, schedule='linear', warmup=0.05,
           label_smoothing=0.1, precision='bf16', steps=1719, batch_size=128, log_every=500,
           checkpoint_every=0, expect='0.9925'),
)}


def resolve(recipe='expert', **overrides):
    """The Config of a run: RECIPES[recipe] with ``overrides`` (None: keep the recipe's),
    its step count and directories filled in."""
    given = {k: v for k, v in overrides.items() if v is not None}
    config = dataclasses.replace(RECIPES[recipe], **given)
    steps = config.steps
    if steps is None:
        steps = config.epochs * (TRAIN_EXAMPLES // config.batch_size)
    return dataclasses.replace(
        config, steps=steps,
        data_dir=config.data_dir or mnist_data.default_data_dir(),
        checkpoint_dir=config.checkpoint_dir or runs.default_checkpoint_dir(recipe),
        log_dir=config.log_dir or runs.default_log_dir(recipe))


def config_from_record(record):
    """The Config that run.json recorded, or None if it has none this version can read.
    A field the record lacks (written before the field existed) takes its recipe's value."""
    stored = record.get('config')
    if not isinstance(stored, dict) or stored.get('recipe') not in RECIPES:
        return None
    names = {f.name for f in dataclasses.fields(Config)}
    try:
        return dataclasses.replace(RECIPES[stored['recipe']],
                                   **{k: v for k, v in stored.items() if k in names})
    except TypeError:
        return None


def _bind_tf():
    """Import TensorFlow (once) and bind this module's ``tf`` to tensorflow.compat.v1."""
    global tf
    tf = runs.import_tf()
    return tf


# --- the network: the tutorial's helpers and deepnn() ---------------------------

def weight_variable(shape, config, name):
    """A weight variable with a little noise, to break symmetry."""
    if config.init == 'random_normal':
        initial = tf.random_normal(shape, seed=config.weight_seed)
    else:
        initial = tf.truncated_normal(shape, stddev=0.1, seed=config.weight_seed)
    return tf.Variable(initial, name=name)


def bias_variable(shape, config, name):
    """A bias variable, slightly positive for ReLUs (the tutorial) or as the seed had it."""
    if config.bias_init is None:
        initial = tf.random_normal(shape)
    else:
        initial = tf.constant(config.bias_init, shape=shape)
    return tf.Variable(initial, name=name)


def conv2d(x, W):
    """A 2-D convolution with stride 1 and zero padding: the output keeps the input's size."""
    return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding='SAME')


def max_pool_2x2(x):
    """Max pooling over 2x2 blocks: halves width and height."""
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='SAME')


@dataclasses.dataclass
class Net:
    """What deepnn() builds: the output, the dropout knob, and every named tensor."""
    y_conv: object      # logits, or softmax probabilities where the recipe says so
    logits: object
    keep_prob: object
    layers: dict        # 'W_conv1', 'h_pool1', ... as in the tutorial
    variables: dict     # the trainable variables by tutorial name


def deepnn(x, config):
    """Build the recipe's network on x ([N, 784]); see Net for what comes back."""
    _bind_tf()
    layers, variables = {}, {}

    def var(make, shape, name):
        variables[name] = make(shape, config, name)
        return variables[name]

    def add_bias(h, b):
        return tf.nn.bias_add(h, b) if config.bias_add else h + b

    with tf.name_scope('reshape'):
        x_image = tf.reshape(x, [-1, 28, 28, 1])

    if config.network == 'single_conv':
        with tf.name_scope('conv1'):
            W_conv1 = var(weight_variable, [5, 5, 1, 16], 'W_conv1')
            # 001: |conv| - 0.2 through a ReLU keeps strong edges of either sign.
            h_conv1 = tf.nn.relu(tf.abs(conv2d(x_image, W_conv1)) - 0.2)
        with tf.name_scope('pool1'):
            h_pool1 = max_pool_2x2(h_conv1)
        features, h_last, fc_units = 14 * 14 * 16, h_pool1, 16
        layers.update(W_conv1=W_conv1, h_conv1=h_conv1, h_pool1=h_pool1)
    else:
        with tf.name_scope('conv1'):
            W_conv1 = var(weight_variable, [5, 5, 1, 32], 'W_conv1')
            b_conv1 = var(bias_variable, [32], 'b_conv1')
            h_conv1 = tf.nn.relu(add_bias(conv2d(x_image, W_conv1), b_conv1))
        with tf.name_scope('pool1'):
            h_pool1 = max_pool_2x2(h_conv1)
        with tf.name_scope('conv2'):
            W_conv2 = var(weight_variable, [5, 5, 32, 64], 'W_conv2')
            b_conv2 = var(bias_variable, [64], 'b_conv2')
            h_conv2 = tf.nn.relu(add_bias(conv2d(h_pool1, W_conv2), b_conv2))
        with tf.name_scope('pool2'):
            h_pool2 = max_pool_2x2(h_conv2)
        features, h_last, fc_units = 7 * 7 * 64, h_pool2, 1024
        layers.update(W_conv1=W_conv1, h_conv1=h_conv1, h_pool1=h_pool1,
                      W_conv2=W_conv2, h_conv2=h_conv2, h_pool2=h_pool2)

    with tf.name_scope('fc1'):
        W_fc1 = var(weight_variable, [features, fc_units], 'W_fc1')
        b_fc1 = var(bias_variable, [fc_units], 'b_fc1')
        h_flat = tf.reshape(h_last, [-1, features])
        h_fc1 = tf.nn.relu(tf.matmul(h_flat, W_fc1) + b_fc1)

    # A default of 1.0 lets evaluation leave dropout off without feeding it.
    keep_prob = tf.placeholder_with_default(1.0, shape=[], name='keep_prob')
    h_fc1_drop = h_fc1
    if config.dropout:
        with tf.name_scope('dropout'):
            # tf.nn.dropout(h_fc1, keep_prob) in the tutorial; rate= is the same math
            # without TF 2's deprecation warning.
            h_fc1_drop = tf.nn.dropout(h_fc1, rate=1 - keep_prob)

    with tf.name_scope('fc2'):
        W_fc2 = var(weight_variable, [fc_units, 10], 'W_fc2')
        b_fc2 = var(bias_variable, [10], 'b_fc2')
        logits = tf.matmul(h_fc1_drop, W_fc2) + b_fc2
    y_conv = tf.nn.softmax(logits) if config.output == 'softmax' else logits

    layers.update(x_image=x_image, h_fc1=h_fc1, logits=logits)
    return Net(y_conv=y_conv, logits=logits, keep_prob=keep_prob, layers=layers,
               variables=variables)


# --- the training graph -------------------------------------------------------

@dataclasses.dataclass
class Model:
    """The training graph and the handles the loop needs."""
    graph: object
    x: object
    y_: object
    net: Net
    cross_entropy: object
    train_step: object
    global_step: object
    accuracy: object
    correct_count: object
    example_loss_sum: object
    full_summaries: object
    saver: object
    learning_rate: object   # a placeholder fed learning_rate_at(step); None if constant


def scalar_summary(name, value):
    """A scalar summary tagged '<name scope>/name'. (TF 2's tf.summary.scalar tags it
    'name_1' inside a name scope: its v2 twin takes the name first.)"""
    tag = tf.get_default_graph().get_name_scope() + '/' + name
    summary = tf.raw_ops.ScalarSummary(tags=tag.lstrip('/'), values=value, name=name)
    tf.add_to_collection(tf.GraphKeys.SUMMARIES, summary)


def variable_summaries(var):
    """Seed 002's summaries of a variable: mean, stddev, max, min and a histogram."""
    with tf.name_scope('summaries'):
        mean = tf.reduce_mean(var)
        scalar_summary('mean', mean)
        with tf.name_scope('stddev'):
            stddev = tf.sqrt(tf.reduce_mean(tf.square(var - mean)))
        scalar_summary('stddev', stddev)
        scalar_summary('max', tf.reduce_max(var))
        scalar_summary('min', tf.reduce_min(var))
        tf.summary.histogram('histogram', var)


def maps_as_images(h, size):
    """[N, s, s, C] feature maps as N*C one-channel images, as 002 shows them."""
    return tf.reshape(tf.transpose(h, perm=[0, 3, 1, 2]), [-1, size, size, 1])


def add_full_summaries(net):
    """002's TensorBoard view: every variable, activation histograms, and images of
    the input, the filters and the convolved and pooled maps. Call it first: it merges every summary so far."""
    for name, var in net.variables.items():
        with tf.name_scope(name):
            variable_summaries(var)
    layers = net.layers
    for name in ('h_conv1', 'h_conv2', 'h_fc1', 'logits'):
        if name in layers:
            tf.summary.histogram(name + '/activations', layers[name])
    tf.summary.image('preprocess', layers['x_image'], 10)
    tf.summary.image('W_conv1/filters', tf.transpose(layers['W_conv1'], perm=[3, 0, 1, 2]), 10)
    tf.summary.image('h_conv1/convolved', maps_as_images(layers['h_conv1'], 28), 10)
    tf.summary.image('h_pool1/pooled', maps_as_images(layers['h_pool1'], 14), 10)
    if 'W_conv2' in layers:
        tf.summary.image('W_conv2/filters', tf.reshape(
            tf.transpose(layers['W_conv2'], perm=[2, 3, 0, 1]), [-1, 5, 5, 1]), 20)
        tf.summary.image('h_conv2/convolved', maps_as_images(layers['h_conv2'], 14), 10)
        tf.summary.image('h_pool2/pooled', maps_as_images(layers['h_pool2'], 7), 10)
    scalar_summary('dropout_keep_probability', net.keep_prob)
    return tf.summary.merge_all()




def learning_rate_at(config, step):
    """The step size at ``step``: constant, or a linear ramp over the first ``warmup``
    of the run up to ``learning_rate``, then a linear or cosine fall to 0 at the end."""
    if config.schedule == 'constant':
        return config.learning_rate
    warm = max(1, round(config.warmup * config.steps))
    if step < warm:
        return config.learning_rate * (step + 1) / warm
    done = min(1.0, (step - warm) / max(1, config.steps - warm))
    fall = 1 - done if config.schedule == 'linear' else 0.5 * (1 + math.cos(math.pi * done))
    return config.learning_rate * fall


def session_config(config):
    """The session options of config's run: with precision 'bf16' on a CPU with native
    bfloat16 (AVX512_BF16 or AMX), oneDNN's graph rewrite to mixed precision, which
    runs the convolutions and matrix products in bf16 (about 1.7x the images/s here);
    elsewhere None, since emulated bf16 would be slower than fp32."""
    if config.precision != 'bf16' or not runs.cpu_has_native_bf16():
        return None
    _bind_tf()
    from tensorflow.core.protobuf import rewriter_config_pb2
    options = tf.ConfigProto()
    options.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
        rewriter_config_pb2.RewriterConfig.ON)
    return options


def build_model(config):
    """Placeholders, the network, the recipe's loss and optimiser, metrics, summaries."""
    _bind_tf()
    graph = tf.Graph()
    with graph.as_default():
        # Unseeded runs draw a graph seed of their own: once a seeded run in the same
        # process has turned op determinism on (it is process-wide), random ops need one.
        tf.set_random_seed(config.seed if config.seed is not None
                           else random.SystemRandom().randrange(2 ** 31))
        with tf.name_scope('input'):
            x = tf.placeholder(tf.float32, shape=[None, 784], name='x-input')
            y_ = tf.placeholder(tf.float32, shape=[None, 10], name='y-input')
        net = deepnn(x, config)
        y_conv = net.y_conv

        with tf.name_scope('cross_entropy'):
            if config.loss == 'sum_neg_log':
                # 000/001 as written: NaN once a probability underflows to 0.
                cross_entropy = -tf.reduce_sum(y_ * tf.log(y_conv))
                example_loss = -tf.reduce_sum(y_ * tf.log(y_conv), axis=1)
            else:
                example_loss = tf.nn.softmax_cross_entropy_with_logits_v2(
                    labels=y_, logits=net.logits)
                cross_entropy = tf.reduce_mean(example_loss)
                if config.label_smoothing:
                    e = config.label_smoothing
                    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(
                        labels=(1 - e) * y_ + e / 10, logits=net.logits))
            # Summed per example, so train and test curves compare across recipes.
            example_loss_sum = tf.reduce_sum(example_loss)

        global_step = tf.train.get_or_create_global_step()
        with tf.name_scope('train'):
            rate = None
            if config.schedule != 'constant':
                rate = tf.placeholder_with_default(config.learning_rate, [], 'learning_rate')
            if config.optimizer == 'gd':
                optimizer = tf.train.GradientDescentOptimizer(config.learning_rate)
            else:
                optimizer = tf.train.AdamOptimizer(config.learning_rate if rate is None else rate)
            train_step = optimizer.minimize(cross_entropy, global_step=global_step)

        with tf.name_scope('accuracy'):
            correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
            accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
            correct_count = tf.reduce_sum(tf.cast(correct_prediction, tf.float32))

        full = add_full_summaries(net) if config.full_summaries else None
        # No .meta files: readers rebuild the graph with deepnn(), as the visualiser does.
        # Old checkpoints are pruned by Checkpoints.prune(), which also keeps milestones.
        saver = tf.train.Saver(max_to_keep=None, save_relative_paths=True)
    return Model(graph=graph, x=x, y_=y_, net=net, cross_entropy=cross_entropy,
                 train_step=train_step, global_step=global_step, accuracy=accuracy,
                 correct_count=correct_count, example_loss_sum=example_loss_sum,
                 full_summaries=full, saver=saver, learning_rate=rate)


def write_scalars(writer, step, accuracy, cross_entropy):
    """The 'accuracy' and 'cross_entropy' scalars, tagged alike in train/ and test/ so
    TensorBoard overlays them (summary ops would be renamed 'accuracy_1' beside the
    tutorial's 'accuracy' name scope)."""
    writer.add_summary(tf.Summary(value=[
        tf.Summary.Value(tag='accuracy', simple_value=accuracy),
        tf.Summary.Value(tag='cross_entropy', simple_value=cross_entropy)]), step)


def evaluate(sess, model, images, labels, batch_size=EVAL_BATCH, stop=None):
    """(accuracy, mean cross entropy) over all images, batch_size at a time; None if
    ``stop`` (a StopRequest) was signalled midway."""
    correct = loss = 0.0
    for start in range(0, len(images), batch_size):
        if stop is not None and stop.signum is not None:
            return None
        feed = {model.x: images[start:start + batch_size],
                model.y_: labels[start:start + batch_size]}
        c, l = sess.run([model.correct_count, model.example_loss_sum], feed_dict=feed)
        correct += float(c)
        loss += float(l)
    return correct / len(images), loss / len(images)


# --- a run's state on disk: checkpoints and run.json ------------------------------

class Checkpoints:
    """The checkpoints of one run directory: restore the newest intact one, save, prune."""

    def __init__(self, config, saver):
        self.config, self.saver = config, saver
        self.dir = config.checkpoint_dir
        self.prefix = os.path.join(self.dir, runs.CHECKPOINT_PREFIX)
        self.saved_step = None      # the step of the newest checkpoint on disk

    def restore_or_initialise(self, sess, model):
        """Restore the newest intact checkpoint and return its step, or initialise and
        return 0. Damaged checkpoints are moved aside into damaged/, with a line each."""
        shapes = {v.op.name: v.shape.as_list()
                  for v in model.graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)}
        for _, prefix in reversed(runs.checkpoints(self.dir)):
            problem = self._unreadable(prefix, shapes)
            if problem is None:
                try:
                    self.saver.restore(sess, prefix)
                    self.saved_step = int(sess.run(model.global_step))
                    self.prune()
                    return self.saved_step
                except tf.errors.OpError as e:
                    problem = runs.tf_message(e)
            where = runs.move_aside(prefix)
            print('deep_cnn: skipped %s: damaged (%s); moved it to %s'
                  % (os.path.basename(prefix), problem, where), file=sys.stderr)
        sess.run(tf.global_variables_initializer())
        return 0

    def _unreadable(self, prefix, shapes):
        """Why the checkpoint cannot be read (None if it can). One that holds another
        network is no damage but a user's mistake: RunError."""
        try:
            stored = tf.train.load_checkpoint(prefix).get_variable_to_shape_map()
        except (tf.errors.OpError, ValueError) as e:
            return runs.tf_message(e)
        misfit = sorted(name for name, shape in shapes.items() if stored.get(name) != shape)
        if misfit:
            raise runs.RunError(
                '%s was not written by recipe %r (%s differs); choose another '
                '--checkpoint_dir' % (prefix, self.config.recipe, misfit[0]))
        return None

    def save(self, sess, step):
        """Save step's checkpoint (once) and prune; the prefix. A failed write (disk full,
        no permission) removes its partial files and raises RunError."""
        path = '%s-%d' % (self.prefix, step)
        if step == self.saved_step:
            return path
        try:
            self.saver.save(sess, self.prefix, global_step=step, write_meta_graph=False,
                            write_state=False)
        except (tf.errors.OpError, OSError) as e:
            runs.remove_checkpoint(path)
            runs.remove_partial_files(self.dir)
            kept = runs.latest_checkpoint(self.dir)
            raise runs.RunError('cannot save a checkpoint in %s: %s; %s' % (
                self.dir, runs.tf_message(e), 'the newest one there, %s, is intact'
                % os.path.basename(kept) if kept else 'no earlier checkpoint')) from None
        self.saved_step = step
        self.prune()
        return path

    def prune(self):
        """Keep the newest KEEP_LAST checkpoints and the milestones (every keep_every
        steps); delete the rest, and name the kept ones in the state file."""
        found = runs.checkpoints(self.dir)
        every = self.config.keep_every
        kept = [(step, prefix) for n, (step, prefix) in enumerate(found)
                if n >= len(found) - KEEP_LAST or (every and step % every == 0)]
        for item in found:
            if item not in kept:
                runs.remove_checkpoint(item[1])
        runs.write_checkpoint_state(self.dir, [prefix for _, prefix in kept])


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_pair(value):
    return isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))


# run.json's list fields, and the test each of their items must pass
RECORD_LISTS = {
    'history': _is_pair,                      # [step, training accuracy]
    'epoch_losses': _is_number,
    'segments': lambda s: isinstance(s, dict) and all(
        _is_number(s.get(k)) for k in ('from', 'to', 'wall_time_s')),
}


def malformed_field(record):
    """The first field of run.json (as read) whose type this version does not write, or None."""
    for key, ok in RECORD_LISTS.items():
        value = record.get(key, [])
        if not isinstance(value, list) or not all(map(ok, value)):
            return key
    partial = record.get('epoch_partial')         # [step, loss so far in that epoch]
    if partial is not None and not _is_pair(partial):
        return 'epoch_partial'
    return None


def usable_record(record, checkpoint_dir):
    """``record`` if its fields are well formed; else {}, after one line saying which is not."""
    key = malformed_field(record)
    if key is None:
        return record
    print('warning: ignoring run.json in %s: its %r field is malformed'
          % (checkpoint_dir, key), file=sys.stderr)
    return {}


class RunRecord:
    """run.json: the resolved config, one segment per invocation that trained, the step
    lines and epoch losses. Written at every checkpoint and at the end."""

    def __init__(self, config, previous, start, steps_per_epoch):
        self.config, self.start = config, start
        self.t0 = self.t1 = None    # when this segment's training loop started and ended
        self.steps_per_epoch = steps_per_epoch
        self.history = [h for h in previous.get('history', []) if h[0] < start]
        self.epoch_losses = previous.get('epoch_losses', [])[:start // (steps_per_epoch or 1)]
        partial = previous.get('epoch_partial')
        self.epoch_loss = partial[1] if partial and partial[0] == start else 0.0
        self.segments = [s for s in previous.get('segments', []) if s['from'] < start]
        stored = config_from_record(previous)
        self.changed = {} if stored is None or not start else {
            k: v for k, v in config_changes(stored, config).items()
            if k not in ('data_dir', 'checkpoint_dir', 'log_dir')}
        self.environment = {        # what ran it: the same at every write of this segment
            'tensorflow': tf.__version__,
            'python': platform.python_version(),
            'machine': '%s, %d CPUs' % (platform.machine(), os.cpu_count() or 0),
            'cpu': runs.cpu_model(),
            'bf16_in_use': session_config(config) is not None,
        }

    def add_loss(self, step, loss):
        """Count a step's loss into its epoch; the epoch's loss when ``step`` ends one."""
        if not self.config.epochs or not self.steps_per_epoch:
            return None
        self.epoch_loss += float(loss)
        if step % self.steps_per_epoch:
            return None
        self.epoch_losses.append(self.epoch_loss)
        self.epoch_loss = 0.0
        return self.epoch_losses[-1]

    def seconds(self):
        """Seconds in this segment's training loop: so far, or in all once it has ended."""
        return (self.t1 or time.monotonic()) - self.t0 if self.t0 else 0.0

    def write(self, step, status, checkpoint, test_accuracy=None):
        wall = self.seconds()
        segments = self.segments + [{
            'from': self.start, 'to': step, 'status': status, 'wall_time_s': round(wall, 2),
            'steps_per_s': round((step - self.start) / wall, 2) if wall > 0 else None,
            'finished_at': datetime.datetime.now().isoformat(timespec='seconds'),
            'changed': self.changed}]
        total_wall = sum(s['wall_time_s'] for s in segments)
        total_steps = sum(s['to'] - s['from'] for s in segments)
        runs.write_run_json(self.config.checkpoint_dir, {
            'config': dataclasses.asdict(self.config),
            'status': status,
            'steps': step,
            'test_accuracy': test_accuracy,
            'checkpoint': checkpoint and os.path.basename(checkpoint),
            'wall_time_s': round(total_wall, 2),     # training loops, all segments
            'steps_per_s': round(total_steps / total_wall, 2) if total_wall > 0 else None,
            **self.environment,
            'segments': segments,
            'history': self.history,
            'epoch_losses': self.epoch_losses,
            'epoch_partial': [step, self.epoch_loss],
        })


# --- what a run shows while it trains ------------------------------------------------

class Reporter:
    """The tutorial's step lines on stdout, the TensorBoard scalars, seed 004's epoch
    losses, and progress on stderr. A context manager: leaving it closes the writers."""

    def __init__(self, sess, model, config, mnist, record, start):
        self.sess, self.model, self.config, self.record = sess, model, config, record
        self.train_writer = self.test_writer = None
        if config.summary_every:
            try:
                self.train_writer = tf.summary.FileWriter(
                    os.path.join(config.log_dir, 'train'), sess.graph if start == 0 else None)
                self.test_writer = tf.summary.FileWriter(os.path.join(config.log_dir, 'test'))
            except tf.errors.OpError as e:
                raise runs.RunError('cannot write TensorBoard logs into %s: %s'
                                    % (config.log_dir, runs.tf_message(e))) from None
        self.test_images = mnist.test.images[:config.test_summary_size]
        self.test_labels = mnist.test.labels[:config.test_summary_size]
        self.total_epochs = math.ceil(config.steps / (record.steps_per_epoch or 1))
        self.progress = runs.Progress(start, config.steps)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.progress.close()
        for writer in (self.train_writer, self.test_writer):
            if writer:
                writer.close()

    def before_step(self, step, batch):
        """Every log_every steps the tutorial's line; every summary_every the scalars."""
        c, m = self.config, self.model
        log_now = c.log_every and step % c.log_every == 0
        summarise = c.summary_every and step % c.summary_every == 0
        if not (log_now or summarise):
            return
        fetches = [m.accuracy, m.example_loss_sum]
        if summarise and m.full_summaries is not None:
            fetches.append(m.full_summaries)
        accuracy, loss_sum, *summaries = self.sess.run(
            fetches, feed_dict={m.x: batch[0], m.y_: batch[1], m.net.keep_prob: 1.0})
        if log_now:
            print('step %d, training accuracy %g' % (step, accuracy), flush=True)
            self.record.history.append([step, round(float(accuracy), 6)])
        if summarise:
            write_scalars(self.train_writer, step, float(accuracy), float(loss_sum) / len(batch[0]))
            for summary in summaries:
                self.train_writer.add_summary(summary, step)
            write_scalars(self.test_writer, step,
                          *evaluate(self.sess, m, self.test_images, self.test_labels))

    def after_step(self, step, loss):
        """Seed 004's epoch line when ``step`` ends an epoch; the progress line."""
        epoch_loss = self.record.add_loss(step, loss)
        if epoch_loss is not None:
            epoch = step // self.record.steps_per_epoch - 1
            # 004's own line: print('Step', epoch, 'out of', hm_epochs, 'loss:', epoch_loss)
            print('Step', epoch, 'out of', self.total_epochs, 'loss:', epoch_loss, flush=True)
        self.progress.update(step)


class StopRequest:
    """A SIGINT or SIGTERM, noted so the run stops after the current step and saves.
    A second one raises KeyboardInterrupt at once."""

    def __init__(self):
        self.signum = None

    def __call__(self, signum, frame):
        if self.signum is not None:
            raise KeyboardInterrupt
        self.signum = signum


@contextlib.contextmanager
def stop_requests():
    """A StopRequest that handles SIGINT and SIGTERM; the handlers that were there
    before come back however the block is left."""
    stop = StopRequest()
    with runs.stop_signals_to(stop):
        yield stop


# --- training: restore or initialise, the loop, finish -------------------------------

def train(config, mnist, previous=None):
    """Train config's network on mnist, resuming from its checkpoints; the exit code.
    ``previous`` is the run.json already in the checkpoint directory, if any."""
    _bind_tf()
    if config.seed is not None:
        # compat.v1 lacks this switch; the v2 one is process-wide and covers graphs too.
        tf.compat.v2.config.experimental.enable_op_determinism()
    model = build_model(config)
    os.makedirs(config.checkpoint_dir, exist_ok=True)
    with runs.new_session(model.graph, config=session_config(config)) as sess:
        checkpoints = Checkpoints(config, model.saver)
        start = checkpoints.restore_or_initialise(sess, model)
        if start and start >= config.steps:
            return evaluate_only(sess, model, mnist, config, start)
        if start:
            print('deep_cnn: resuming from %s (step %d), training to step %d'
                  % (runs.latest_checkpoint(config.checkpoint_dir), start, config.steps),
                  file=sys.stderr)
        record = RunRecord(config, previous or {}, start,
                           mnist.train.num_examples // config.batch_size)

        def save(step, status):
            path = checkpoints.save(sess, step)
            record.write(step, status, path)
            return path

        replay_batches(mnist, config, start)
        with stop_requests() as stop:
            with Reporter(sess, model, config, mnist, record, start) as report:
                record.t0 = time.monotonic()
                step, status = train_loop(sess, model, mnist, config, start, report, stop, save)
                record.t1 = time.monotonic()
            return finish(sess, model, mnist, record, step, status, save, stop)


def replay_batches(mnist, config, start):
    """Draw the batches a resumed run already trained on, so a seeded run that was
    interrupted sees the same data as one that was not."""
    for _ in range(start):
        mnist.train.next_batch(config.batch_size)


def train_loop(sess, model, mnist, config, start, report, stop, save):
    """The tutorial's loop. Returns (steps done, 'finished', 'interrupted' or 'nan')."""
    for step in range(start, config.steps):
        batch = mnist.train.next_batch(config.batch_size)
        report.before_step(step, batch)
        feed = {model.x: batch[0], model.y_: batch[1], model.net.keep_prob: config.keep_prob}
        if model.learning_rate is not None:
            feed[model.learning_rate] = learning_rate_at(config, step)
        _, loss = sess.run([model.train_step, model.cross_entropy], feed_dict=feed)
        if not math.isfinite(loss):
            return step, 'nan'
        report.after_step(step + 1, loss)
        if config.checkpoint_every and (step + 1) % config.checkpoint_every == 0:
            save(step + 1, 'running')
        if stop.signum is not None:
            return step + 1, 'interrupted'
    return config.steps, 'finished'


def finish(sess, model, mnist, record, step, status, save, stop):
    """After the loop: save, test, report; the exit code. The signal handlers are still
    in place, so a Ctrl-C here waits until the checkpoint and run.json are written."""
    config = record.config
    if status == 'nan':
        last = runs.latest_checkpoint(config.checkpoint_dir)
        record.write(step, status, last)
        why = ('log(0) in -reduce_sum(y_*log(y_conv))' if config.loss == 'sum_neg_log'
               else 'the loss diverged')
        print('error: cross_entropy became nan at step %d (%s); stopped without saving; last '
              'good checkpoint: %s. Try a smaller --learning_rate.'
              % (step, why, last or 'none'), file=sys.stderr)
        return 1
    path = save(step, status)
    if status == 'finished':
        result = evaluate(sess, model, mnist.test.images, mnist.test.labels, stop=stop)
        if result is not None:
            record.write(step, status, path, test_accuracy=result[0])
            done, wall = step - record.start, record.seconds()
            print('deep_cnn: %d steps in %s (%.1f steps/s); checkpoint %s' % (
                done, runs.duration(wall), done / wall if wall > 0 else 0, path), file=sys.stderr)
            print('test accuracy %g' % result[0], flush=True)
            return 0
    print('deep_cnn: %s: stopped after step %d; saved %s. Run the same command to resume.'
          % (signal.Signals(stop.signum).name, step, path), file=sys.stderr)
    return 128 + stop.signum


def evaluate_only(sess, model, mnist, config, step):
    """A rerun with nothing left to train: say so, and test the checkpoint."""
    print('deep_cnn: the checkpoint at step %d already reaches --steps %d: nothing to '
          'train; evaluating it' % (step, config.steps), file=sys.stderr)
    accuracy, _ = evaluate(sess, model, mnist.test.images, mnist.test.labels)
    print('test accuracy %g' % accuracy, flush=True)
    return 0


def checkpoint_test_accuracy(checkpoint_dir, data_dir=None):
    """Test accuracy of the newest checkpoint in checkpoint_dir, rebuilt from the config
    its run.json records."""
    config = config_from_record(runs.read_run_json(checkpoint_dir))
    prefix = runs.latest_checkpoint(checkpoint_dir)
    if config is None or prefix is None:
        raise runs.RunError('no checkpoint with a run.json config in %s' % checkpoint_dir)
    mnist = mnist_data.read_data_sets(data_dir or config.data_dir, one_hot=True)
    model = build_model(config)
    with runs.new_session(model.graph, config=session_config(config)) as sess:
        model.saver.restore(sess, prefix)
        return evaluate(sess, model, mnist.test.images, mnist.test.labels)[0]


# --- the command line -----------------------------------------------------------

def parse_args(argv=None):
    """The command line as (Config, fresh). Each flag overrides the recipe's value; bad
    values exit 2 before any work."""
    p = runs.ArgumentParser(
        description='Train the Deep MNIST for Experts CNN (or a write-up variant).',
        epilog='Recipes: ' + '; '.join('%s (from %s, %s x %s, expect %s)' % (
            n, r.source, '%d steps' % r.steps if r.steps else '%d epochs' % r.epochs,
            r.batch_size, r.expect) for n, r in RECIPES.items()))
    p.add_argument('--recipe', choices=RECIPES, default='expert',
                   help='network and schedule (default: expert, the tutorial)')
    p.add_argument('--data_dir', help='MNIST files (default: $MNIST_DATA_DIR or MNIST_data)')
    p.add_argument('--steps', type=runs.nonnegative_int,
                   help='total training steps, counting resumed ones (recipe: 20000)')
    p.add_argument('--batch_size', type=runs.positive_int, help='(recipe: 50)')
    p.add_argument('--learning_rate', type=runs.positive_float, help='(recipe: 1e-4)')
    p.add_argument('--keep_prob', type=runs.probability,
                   help='dropout keep probability while training (recipe: 0.5)')
    p.add_argument('--log_every', type=runs.nonnegative_int,
                   help='print a step line every N steps, 0 for none (recipe: 100)')
    p.add_argument('--checkpoint_dir', help='(default: train_data/<recipe>)')
    p.add_argument('--checkpoint_every', type=runs.nonnegative_int,
                   help='save every N steps, 0 for only at the end (recipe: 2000)')
    p.add_argument('--log_dir', help='TensorBoard logs (default: logs/<recipe>)')
    p.add_argument('--summary_every', type=runs.nonnegative_int,
                   help='TensorBoard scalars every N steps, 0 for none (recipe: 500)')
    p.add_argument('--full_summaries', action='store_true', default=None,
                   help="seed 002's variable, histogram and image summaries too")
    p.add_argument('--precision', choices=('fp32', 'bf16'),
                   help='bf16: mixed precision where the CPU has native bfloat16, else fp32 '
                        '(recipe: fp32; fast: bf16)')
    p.add_argument('--seed', type=runs.seed_int, help='make the run repeatable on this machine')
    p.add_argument('--fresh', action='store_true',
                   help="start over: remove this run's checkpoints, run.json and logs first")
    args = p.parse_args(argv)
    return resolve(args.recipe, **{f: getattr(args, f) for f in FLAGS}), args.fresh


def check_resume(config):
    """The usable run.json of config's checkpoint directory ({} if none). Checkpoints of
    another recipe are refused (RunError); a flag that differs from the run so far is
    applied and said, with a note where it changes the training from here on."""
    directory = config.checkpoint_dir
    if not runs.checkpoints(directory):
        if config.steps == 0:
            raise runs.RunError('--steps 0: nothing to train, and no checkpoint in %s to '
                                'evaluate' % directory)
        return usable_record(runs.read_run_json(directory), directory)
    previous = usable_record(runs.read_run_json(directory), directory)
    stored = config_from_record(previous)
    if stored is None:
        return previous
    changed = config_changes(stored, config)
    fixed = [name for name in changed if name not in RESUMABLE]
    if fixed:
        if 'recipe' in fixed:
            what = 'a run of recipe %s, not %s' % (stored.recipe, config.recipe)
            how = 'rerun with --recipe %s to resume it' % stored.recipe
        else:   # the recipe's row has changed since that run
            what = 'a run of recipe %s with %s %s (the recipe now has %s)' % (
                stored.recipe, fixed[0], *changed[fixed[0]])
            how = 'it cannot be resumed as the recipe now is'
        raise runs.RunError('%s holds %s: %s, or choose another --checkpoint_dir to start a '
                            'new one' % (directory, what, how))
    for name, (was, now) in changed.items():
        if name in ('data_dir', 'checkpoint_dir', 'log_dir', 'expect', 'source'):
            continue
        math = name in CHANGES_THE_MATH or (name == 'steps' and stored.schedule != 'constant')
        print('deep_cnn: resuming with %s %s (the run so far used %s)%s' % (
            name, now, was, '; this changes the training from here on' if math else ''),
            file=sys.stderr)
    return previous


def config_changes(stored, config):
    """{field: (stored value, new value)} for the fields where two configs differ."""
    return {f.name: (getattr(stored, f.name), getattr(config, f.name))
            for f in dataclasses.fields(Config)
            if getattr(stored, f.name) != getattr(config, f.name)}


def clear_run(config):
    """--fresh: remove this run's checkpoints, run.json and event files (nothing else)."""
    directory = config.checkpoint_dir
    patterns = [os.path.join(directory, p) for p in (
        'checkpoint', runs.CHECKPOINT_PREFIX + '-*', runs.RUN_JSON,
        os.path.join(runs.DAMAGED_DIR, '*'))]
    patterns += [os.path.join(config.log_dir, d, 'events.out.tfevents.*')
                 for d in ('train', 'test')]
    for pattern in patterns:
        for path in glob.glob(pattern):
            os.remove(path)


def main(argv=None):
    config, fresh = parse_args(argv)
    try:
        with runs.locked(config.checkpoint_dir):
            runs.remove_partial_files(config.checkpoint_dir)
            if fresh:
                clear_run(config)
            previous = check_resume(config)
            mnist = mnist_data.read_data_sets(config.data_dir, one_hot=True, seed=config.seed)
            if config.seed is not None:
                np.random.seed(config.seed)
            return train(config, mnist, previous)
    except (runs.RunError, mnist_data.MNISTDataError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    except OSError as e:
        print('error: %s: %s' % (e.filename or config.checkpoint_dir, e.strerror or e),
              file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('deep_cnn: interrupted; nothing new saved (the checkpoints in %s are as they '
              'were)' % config.checkpoint_dir, file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
