"""Deep MNIST for Experts: the tutorial's convolutional network, on TensorFlow 2.

Two 5x5 convolution + 2x2 max-pool layers (32 and 64 filters), a 1024-unit fully
connected layer, dropout and a 10-way readout, trained with Adam, as in the
official tutorial (seed 003) and ``mnist_deep.py``; the write-ups' variants are
rows of ``RECIPES``. Written with ``tf.compat.v1`` graphs and sessions so the code
reads beside the tutorial.

    python deep_cnn.py                         # 20000 steps of 50, ~99.2 %
    python deep_cnn.py --recipe single_conv    # seed 001's one-layer edge detector
    python deep_cnn.py --steps 500 --fresh     # a short run, starting over

stdout carries the tutorial's lines (``step N, training accuracy A`` and
``test accuracy A``); progress goes to stderr. Checkpoints go to
``train_data/<recipe>`` and a rerun resumes there; TensorBoard logs go to
``logs/<recipe>`` (``tensorboard --logdir logs``).
"""

import contextlib
import dataclasses
import datetime
import glob
import json
import math
import os
import platform
import signal
import sys
import time

import numpy as np

import mnist_data

# tensorflow.compat.v1, imported by import_tf() once the flags are known: importing
# TensorFlow takes seconds, and a wrong flag should be answered at once.
tf = None

EVAL_BATCH = 1000  # test images per forward pass: bounded memory, same accuracy


@dataclasses.dataclass(frozen=True)
class Recipe:
    """One write-up's network and training schedule."""
    source: str             # the seed it comes from
    network: str = 'two_conv'          # or 'single_conv'
    init: str = 'truncated_normal'     # stddev 0.1; or 'random_normal' (stddev 1)
    bias_init: float = 0.1
    bias_add: bool = False             # conv bias through tf.nn.bias_add (004)
    dropout: bool = True
    output: str = 'logits'             # or 'softmax'
    loss: str = 'mean_cross_entropy'   # or 'sum_neg_log': -reduce_sum(y_*log(y_conv))
    optimizer: str = 'adam'            # or 'gd'
    learning_rate: float = 1e-4
    cosine_decay: bool = False         # the rate falls along a cosine to 0 over the run
    steps: int = 20000                 # None: as many as `epochs` take
    batch_size: int = 50
    keep_prob: float = 0.5
    log_every: int = 100
    epochs: int = 0                    # > 0: steps are epochs of the training set
    checkpoint_every: int = 2000
    # A test/ scalar costs a forward pass over test_summary_size images; every 500 steps
    # that is ~1 % of the tutorial's training time (every 100: ~7 %).
    summary_every: int = 500
    test_summary_size: int = 1000      # test images behind each test/ scalar
    full_summaries: bool = False
    expect: str = ''


RECIPES = {
    'expert': Recipe(source='003, official mnist_deep.py', expect='0.992'),
    'original': Recipe(source='000, 001', output='softmax', loss='sum_neg_log',
                       expect='0.9924'),
    # 001's first network: 16 edge-detecting filters, no conv bias, 16 FC units. Its
    # bias_variable is tf.constant(0,1, shape=shape): the 1 is taken as the dtype, so
    # the biases start at 0, not 0.1; we follow the code as it ran.
    'single_conv': Recipe(source='001 part 1', network='single_conv', bias_init=0.0,
                          dropout=False, output='softmax', loss='sum_neg_log',
                          optimizer='gd', learning_rate=0.001, steps=1001,
                          batch_size=100, keep_prob=1.0, log_every=10, expect='0.975'),
    # 002 logs everything, and the full test set every 100 steps, over 3000 steps.
    'summaries': Recipe(source='002', steps=3000, full_summaries=True, summary_every=100,
                        test_summary_size=10000, checkpoint_every=1000, expect='~0.98'),
    # 004: random_normal (stddev 1) weights and biases, no dropout, Adam's default
    # rate, 3 epochs of 128, per-epoch losses instead of step lines.
    'epochs': Recipe(source='004', init='random_normal', bias_init=None, bias_add=True,
                     dropout=False, learning_rate=0.001, steps=None, batch_size=128,
                     keep_prob=1.0, log_every=0, epochs=3, checkpoint_every=0,
                     expect='report'),
    # Not a seed's: the expert network on a schedule for a 2-core CPU. Batches of 128
    # use the cores better than 50 (about 3100 vs 2500 images/s here); Adam starts at
    # 1e-3 and a cosine takes it to 0 over ~6 epochs (README: Performance).
    'fast': Recipe(source='this project', learning_rate=1e-3, cosine_decay=True,
                   steps=2700, batch_size=128, log_every=500, checkpoint_every=0,
                   expect='0.992'),
}


@contextlib.contextmanager
def native_stderr_muted():
    """Silence file descriptor 2 while TensorFlow's C++ side starts: its notes (absl's
    "All log messages before absl::InitializeLog()", oneDNN, the CUDA probe) ignore
    TF_CPP_MIN_LOG_LEVEL in TF 2.21 and would bury the tutorial's own lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tf():
    """Import tensorflow.compat.v1 in graph mode, without its start-up chatter."""
    global tf
    if tf is None:
        os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
        with native_stderr_muted():
            import tensorflow.compat.v1 as tf_v1
        tf_v1.disable_eager_execution()
        tf_v1.logging.set_verbosity(tf_v1.logging.ERROR)
        tf = tf_v1
    return tf


def new_session(graph=None, interactive=False):
    """A tf.Session (or InteractiveSession) without the first session's CUDA probe
    message ("failed call to cuInit") on a machine with no GPU."""
    import_tf()
    with native_stderr_muted():
        return (tf.InteractiveSession if interactive else tf.Session)(graph=graph)


# --- the network: the tutorial's helpers and deepnn() ---------------------------

def weight_variable(shape, recipe, name):
    """A weight variable with a little noise, to break symmetry."""
    if recipe.init == 'random_normal':
        initial = tf.random_normal(shape)
    else:
        initial = tf.truncated_normal(shape, stddev=0.1)
    return tf.Variable(initial, name=name)


def bias_variable(shape, recipe, name):
    """A bias variable, slightly positive for ReLUs (the tutorial) or as the seed had it."""
    if recipe.bias_init is None:
        initial = tf.random_normal(shape)
    else:
        initial = tf.constant(recipe.bias_init, shape=shape)
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


def deepnn(x, recipe):
    """Build the recipe's network on x ([N, 784]); see Net for what comes back."""
    import_tf()
    layers, variables = {}, {}

    def var(make, shape, name):
        variables[name] = make(shape, recipe, name)
        return variables[name]

    def add_bias(h, b):
        return tf.nn.bias_add(h, b) if recipe.bias_add else h + b

    with tf.name_scope('reshape'):
        x_image = tf.reshape(x, [-1, 28, 28, 1])

    if recipe.network == 'single_conv':
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
    if recipe.dropout:
        with tf.name_scope('dropout'):
            # tf.nn.dropout(h_fc1, keep_prob) in the tutorial; rate= is the same math
            # without TF 2's deprecation warning.
            h_fc1_drop = tf.nn.dropout(h_fc1, rate=1 - keep_prob)

    with tf.name_scope('fc2'):
        W_fc2 = var(weight_variable, [fc_units, 10], 'W_fc2')
        b_fc2 = var(bias_variable, [10], 'b_fc2')
        logits = tf.matmul(h_fc1_drop, W_fc2) + b_fc2
    y_conv = tf.nn.softmax(logits) if recipe.output == 'softmax' else logits

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


def variable_summaries(var):
    """Seed 002's summaries of a variable: mean, stddev, max, min and a histogram."""
    with tf.name_scope('summaries'):
        mean = tf.reduce_mean(var)
        tf.summary.scalar('mean', mean)
        with tf.name_scope('stddev'):
            stddev = tf.sqrt(tf.reduce_mean(tf.square(var - mean)))
        tf.summary.scalar('stddev', stddev)
        tf.summary.scalar('max', tf.reduce_max(var))
        tf.summary.scalar('min', tf.reduce_min(var))
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
    tf.summary.scalar('dropout_keep_probability', net.keep_prob)
    return tf.summary.merge_all()


def build_model(recipe, learning_rate, steps=1, seed=None, full_summaries=False):
    """Placeholders, the network, the recipe's loss and optimiser, metrics, summaries.
    ``steps`` is the run's length, over which a decaying learning rate falls."""
    import_tf()
    graph = tf.Graph()
    with graph.as_default():
        if seed is not None:
            tf.set_random_seed(seed)
        with tf.name_scope('input'):
            x = tf.placeholder(tf.float32, shape=[None, 784], name='x-input')
            y_ = tf.placeholder(tf.float32, shape=[None, 10], name='y-input')
        net = deepnn(x, recipe)
        y_conv = net.y_conv

        with tf.name_scope('cross_entropy'):
            if recipe.loss == 'sum_neg_log':
                # 000/001 as written: NaN once a probability underflows to 0.
                cross_entropy = -tf.reduce_sum(y_ * tf.log(y_conv))
                example_loss = -tf.reduce_sum(y_ * tf.log(y_conv), axis=1)
            else:
                example_loss = tf.nn.softmax_cross_entropy_with_logits_v2(
                    labels=y_, logits=net.logits)
                cross_entropy = tf.reduce_mean(example_loss)
            # Summed per example, so train and test curves compare across recipes.
            example_loss_sum = tf.reduce_sum(example_loss)

        global_step = tf.train.get_or_create_global_step()
        with tf.name_scope('train'):
            if recipe.cosine_decay:
                learning_rate = tf.train.cosine_decay(learning_rate, global_step,
                                                      max(steps, 1))
            if recipe.optimizer == 'gd':
                optimizer = tf.train.GradientDescentOptimizer(learning_rate)
            else:
                optimizer = tf.train.AdamOptimizer(learning_rate)
            train_step = optimizer.minimize(cross_entropy, global_step=global_step)

        with tf.name_scope('accuracy'):
            correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
            accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
            correct_count = tf.reduce_sum(tf.cast(correct_prediction, tf.float32))

        full = add_full_summaries(net) if full_summaries else None
        # No .meta files: readers rebuild the graph with deepnn(), as the visualiser does.
        saver = tf.train.Saver(max_to_keep=3, save_relative_paths=True)
    return Model(graph=graph, x=x, y_=y_, net=net, cross_entropy=cross_entropy,
                 train_step=train_step, global_step=global_step, accuracy=accuracy,
                 correct_count=correct_count, example_loss_sum=example_loss_sum,
                 full_summaries=full, saver=saver)


def write_scalars(writer, step, accuracy, cross_entropy):
    """The 'accuracy' and 'cross_entropy' scalars, tagged alike in train/ and test/ so
    TensorBoard overlays them (summary ops would be renamed 'accuracy_1' beside the
    tutorial's 'accuracy' name scope)."""
    writer.add_summary(tf.Summary(value=[
        tf.Summary.Value(tag='accuracy', simple_value=accuracy),
        tf.Summary.Value(tag='cross_entropy', simple_value=cross_entropy)]), step)


def evaluate(sess, model, images, labels, batch_size=EVAL_BATCH):
    """(accuracy, mean cross entropy) over all images, EVAL_BATCH at a time."""
    correct = loss = 0.0
    for start in range(0, len(images), batch_size):
        feed = {model.x: images[start:start + batch_size],
                model.y_: labels[start:start + batch_size]}
        c, l = sess.run([model.correct_count, model.example_loss_sum], feed_dict=feed)
        correct += float(c)
        loss += float(l)
    return correct / len(images), loss / len(images)


# --- the command line -----------------------------------------------------------

def parse_args(argv=None):
    """Flags; each overrides the recipe's value. Bad values exit 2 before any work."""
    p = mnist_data.ArgumentParser(
        description='Train the Deep MNIST for Experts CNN (or a write-up variant).',
        epilog='Recipes: ' + '; '.join('%s (from %s, %s x %s, expect %s)' % (
            n, r.source, '%d steps' % r.steps if r.steps else '%d epochs' % r.epochs,
            r.batch_size, r.expect) for n, r in RECIPES.items()))
    p.add_argument('--recipe', choices=RECIPES, default='expert',
                   help='network and schedule (default: expert, the tutorial)')
    p.add_argument('--data_dir', default=mnist_data.default_data_dir(),
                   help='MNIST files (default: $MNIST_DATA_DIR or MNIST_data)')
    p.add_argument('--steps', type=mnist_data.nonnegative_int,
                   help='total training steps, counting resumed ones (recipe: 20000)')
    p.add_argument('--batch_size', type=mnist_data.positive_int, help='(recipe: 50)')
    p.add_argument('--learning_rate', type=mnist_data.positive_float, help='(recipe: 1e-4)')
    p.add_argument('--keep_prob', type=mnist_data.probability,
                   help='dropout keep probability while training (recipe: 0.5)')
    p.add_argument('--log_every', type=mnist_data.nonnegative_int,
                   help='print a step line every N steps, 0 for none (recipe: 100)')
    p.add_argument('--checkpoint_dir', help='(default: train_data/<recipe>)')
    p.add_argument('--checkpoint_every', type=mnist_data.nonnegative_int,
                   help='save every N steps, 0 for only at the end (recipe: 2000)')
    p.add_argument('--log_dir', help='TensorBoard logs (default: logs/<recipe>)')
    p.add_argument('--summary_every', type=mnist_data.nonnegative_int,
                   help='TensorBoard scalars every N steps, 0 for none (recipe: 500)')
    p.add_argument('--full_summaries', action='store_true', default=None,
                   help="seed 002's variable, histogram and image summaries too")
    p.add_argument('--seed', type=mnist_data.seed_int,
                   help='make the run repeatable on this machine')
    p.add_argument('--fresh', action='store_true',
                   help='start over: remove this recipe\'s checkpoints and logs first')
    args = p.parse_args(argv)
    recipe = RECIPES[args.recipe]
    for field in ('steps', 'batch_size', 'learning_rate', 'keep_prob', 'log_every',
                  'checkpoint_every', 'summary_every', 'full_summaries'):
        if getattr(args, field) is None:
            setattr(args, field, getattr(recipe, field))
    args.checkpoint_dir = args.checkpoint_dir or os.path.join('train_data', args.recipe)
    args.log_dir = args.log_dir or os.path.join('logs', args.recipe)
    return args


class StopRequest:
    """SIGINT/SIGTERM handler: note the signal, let the current step finish.
    A second signal falls through to the default and ends the run at once."""

    def __init__(self):
        self.signum = None

    def __call__(self, signum, frame):
        self.signum = signum
        self.uninstall()

    def install(self):
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)

    @staticmethod
    def uninstall():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Progress:
    """Steps/s and ETA on stderr: a live line on a terminal, else a line every 30 s."""

    def __init__(self, start, total, stream=sys.stderr):
        self.start, self.total, self.stream = start, total, stream
        self.tty = stream.isatty()
        self.interval = 1.0 if self.tty else 30.0
        self.t0 = self.last = time.monotonic()

    def update(self, step):
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        rate = (step - self.start) / (now - self.t0)
        eta = (self.total - step) / rate if rate > 0 else float('inf')
        line = 'step %d/%d  %.1f steps/s  ETA %s' % (step, self.total, rate, _duration(eta))
        self.stream.write('\r' + line + '\x1b[K' if self.tty else line + '\n')
        self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write('\r\x1b[K')
            self.stream.flush()


def _duration(seconds):
    if not math.isfinite(seconds):
        return '?'
    m, s = divmod(int(seconds), 60)
    return '%dm%02ds' % (m, s) if m else '%ds' % s


def clear_run(args):
    """--fresh: remove this run's checkpoints, run.json and event files (nothing else)."""
    patterns = [os.path.join(args.checkpoint_dir, p)
                for p in ('checkpoint', 'model.ckpt-*', 'run.json')]
    patterns += [os.path.join(args.log_dir, d, 'events.out.tfevents.*')
                 for d in ('train', 'test')]
    for pattern in patterns:
        for path in glob.glob(pattern):
            os.remove(path)


def read_run_json(checkpoint_dir):
    """The run.json beside the checkpoints, or {} if there is none yet."""
    path = os.path.join(checkpoint_dir, 'run.json')
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def write_run_json(args, record):
    path = os.path.join(args.checkpoint_dir, 'run.json')
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(record, f, indent=2)
        f.write('\n')
    os.replace(tmp, path)


def train(args, mnist):
    """The tutorial's loop, with checkpoints, summaries, progress and a clean stop.
    Returns the exit code."""
    recipe = RECIPES[args.recipe]
    if args.seed is not None:
        # compat.v1 lacks this switch; the v2 one is process-wide and covers graphs too.
        tf.compat.v2.config.experimental.enable_op_determinism()
    model = build_model(recipe, args.learning_rate, args.steps, args.seed, args.full_summaries)
    x, y_, keep_prob = model.x, model.y_, model.net.keep_prob
    steps_per_epoch = mnist.train.num_examples // args.batch_size
    total_epochs = math.ceil(args.steps / steps_per_epoch) if steps_per_epoch else 0

    os.makedirs(args.checkpoint_dir, exist_ok=True)
    ckpt_prefix = os.path.join(args.checkpoint_dir, 'model.ckpt')
    previous = read_run_json(args.checkpoint_dir)
    history = previous.get('history', [])
    epoch_losses = previous.get('epoch_losses', [])

    with new_session(model.graph) as sess:
        latest = tf.train.latest_checkpoint(args.checkpoint_dir)
        if latest:
            try:
                model.saver.restore(sess, latest)
            except (tf.errors.NotFoundError, tf.errors.InvalidArgumentError):
                print('error: %s was not written by recipe %r (or is damaged); use --fresh '
                      'or another --checkpoint_dir' % (latest, args.recipe), file=sys.stderr)
                return 1
        else:
            sess.run(tf.global_variables_initializer())
        start = int(sess.run(model.global_step))
        if latest:
            print('deep_cnn: resuming from %s (step %d of %d)' % (latest, start, args.steps),
                  file=sys.stderr)
        history = [h for h in history if h[0] < start]
        epoch_losses = epoch_losses[:start // steps_per_epoch] if steps_per_epoch else []

        # Replay the batch stream up to the resumed step, so a seeded run that was
        # interrupted sees the same data as one that was not.
        for _ in range(start):
            mnist.train.next_batch(args.batch_size)

        train_writer = test_writer = None
        if args.summary_every:
            train_writer = tf.summary.FileWriter(os.path.join(args.log_dir, 'train'),
                                                 sess.graph if start == 0 else None)
            test_writer = tf.summary.FileWriter(os.path.join(args.log_dir, 'test'))
        test_images = mnist.test.images[:recipe.test_summary_size]
        test_labels = mnist.test.labels[:recipe.test_summary_size]

        stop = StopRequest()
        stop.install()
        progress = Progress(start, args.steps)
        t0 = time.monotonic()
        step = start
        status = 'finished'
        epoch_loss = 0.0
        while step < args.steps:
            batch = mnist.train.next_batch(args.batch_size)
            log_now = args.log_every and step % args.log_every == 0
            summarise = args.summary_every and step % args.summary_every == 0
            if log_now or summarise:
                fetches = [model.accuracy, model.example_loss_sum]
                if summarise and model.full_summaries is not None:
                    fetches.append(model.full_summaries)
                results = sess.run(fetches,
                                   feed_dict={x: batch[0], y_: batch[1], keep_prob: 1.0})
                train_accuracy = float(results[0])
                if log_now:
                    print('step %d, training accuracy %g' % (step, train_accuracy),
                          flush=True)
                    history.append([step, round(train_accuracy, 6)])
                if summarise:
                    write_scalars(train_writer, step, train_accuracy,
                                  float(results[1]) / len(batch[0]))
                    for summary in results[2:]:
                        train_writer.add_summary(summary, step)
                    write_scalars(test_writer, step,
                                  *evaluate(sess, model, test_images, test_labels))

            _, loss_value = sess.run(
                [model.train_step, model.cross_entropy],
                feed_dict={x: batch[0], y_: batch[1], keep_prob: args.keep_prob})
            if not math.isfinite(loss_value):
                progress.close()
                last = tf.train.latest_checkpoint(args.checkpoint_dir)
                print('error: cross_entropy became %s at step %d (log(0) in %s); stopped '
                      'without saving; last good checkpoint: %s. Try a smaller '
                      '--learning_rate.' % (loss_value, step, recipe.loss, last or 'none'),
                      file=sys.stderr)
                status = 'nan'
                break
            step += 1
            epoch_loss += float(loss_value)
            if recipe.epochs and step % steps_per_epoch == 0:
                epoch = step // steps_per_epoch - 1
                # 004's own line, print('Step', epoch, 'out of', hm_epochs, 'loss:', ...)
                print('Step', epoch, 'out of', total_epochs, 'loss:', epoch_loss, flush=True)
                epoch_losses.append(epoch_loss)
                epoch_loss = 0.0
            if args.checkpoint_every and step % args.checkpoint_every == 0:
                model.saver.save(sess, ckpt_prefix, global_step=step, write_meta_graph=False)
            progress.update(step)
            if stop.signum is not None:
                status = 'interrupted'
                break
        progress.close()
        wall = time.monotonic() - t0
        stop.uninstall()

        saved = tf.train.latest_checkpoint(args.checkpoint_dir)
        if status != 'nan' and (step > start or not saved):
            saved = model.saver.save(sess, ckpt_prefix, global_step=step, write_meta_graph=False)
        test_accuracy = None
        if status == 'finished':
            test_accuracy, _ = evaluate(sess, model, mnist.test.images, mnist.test.labels)
        for writer in (train_writer, test_writer):
            if writer:
                writer.close()

    done = step - start
    write_run_json(args, {
        'recipe': args.recipe,
        'source': recipe.source,
        'status': status,
        'flags': {k: v for k, v in vars(args).items() if k != 'fresh'},
        'tensorflow': tf.__version__,
        'python': platform.python_version(),
        'machine': '%s, %d CPUs' % (platform.machine(), os.cpu_count() or 0),
        'steps': step,
        'steps_this_run': done,
        'test_accuracy': test_accuracy,
        'wall_time_s': round(wall, 2),
        'steps_per_s': round(done / wall, 2) if wall > 0 else None,
        'finished_at': datetime.datetime.now().isoformat(timespec='seconds'),
        'checkpoint': saved,
        'history': history,
        'epoch_losses': epoch_losses,
    })
    if status == 'interrupted':
        name = signal.Signals(stop.signum).name
        print('deep_cnn: %s: stopped after step %d; saved %s. Run the same command to '
              'resume.' % (name, step, saved), file=sys.stderr)
        return 128 + stop.signum
    if status == 'nan':
        return 1
    print('deep_cnn: %d steps in %s (%.1f steps/s); checkpoint %s' % (
        done, _duration(wall), done / wall if wall > 0 else 0, saved), file=sys.stderr)
    print('test accuracy %g' % test_accuracy, flush=True)
    return 0


def main(argv=None):
    args = parse_args(argv)
    if args.fresh:
        clear_run(args)
    try:
        mnist = mnist_data.read_data_sets(args.data_dir, one_hot=True, seed=args.seed)
        if args.seed is not None:
            np.random.seed(args.seed)
        if args.steps is None:
            args.steps = (RECIPES[args.recipe].epochs
                          * (mnist.train.num_examples // args.batch_size))
        import_tf()
        return train(args, mnist)
    except mnist_data.MNISTDataError as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('deep_cnn: interrupted before training started; nothing saved', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
