"""Look inside the trained CNN: its filters, what they make of test digits, its mistakes.

Restores a checkpoint written by ``deep_cnn.py``, rebuilds the network with
``deep_cnn.deepnn`` for the recipe that wrote it (seed 001's second script copied the
graph code; its author apologised, so we do not), and draws 001's figures:

    python visualize_filters.py                               # train_data/expert -> figures/
    python visualize_filters.py --checkpoint_dir train_data/single_conv
    python visualize_filters.py --conv2_filter 7 --show       # also open the windows

Figures, written into ``--output_dir`` (default ``figures/``):
  conv1.png              the conv1 filters across the top; below, for each test digit,
                         the digit and its pooled conv1 maps (h_pool1)
  conv2.png              one sub-filter of each of the 64 conv2 filters in two rows of
                         32; below, two rows of 32 pooled conv2 maps (h_pool2) per digit
  conv2_filter<K>.png    (--conv2_filter K) the 32 sub-filters of conv2 filter K beside
                         the conv1 filters they read, and how they add up for one digit
  misclassified.png      test digits the model gets wrong, "label -> prediction"
                         (their indices in misclassified.json)
  learning_curve.png     training accuracy over the steps and the final test accuracy,
                         from run.json or else the TensorBoard event files
"""

import glob
import json
import math
import os
import re
import sys

import matplotlib
import numpy as np

import deep_cnn
import mnist_data

DEFAULT_RECIPE = 'expert'
CONV1_NAME, CONV2_NAME = 'conv1.png', 'conv2.png'
MISCLASSIFIED_NAME, CURVE_NAME = 'misclassified.png', 'learning_curve.png'
MISCLASSIFIED_COLS = 10
MAX_SAMPLES = 100   # one figure row (conv2: two) per digit

# Figure geometry in pixels, so every PNG's size follows from its grid (Grid.size()).
DPI = 100
CELL = 40           # one filter or map
GAP = 4             # between cells of one row group
HEADER_GAP = 16     # between the filter rows and the first digit
DIGIT_GAP = 10      # between the row pairs of two digits (conv2)
LABEL_W = 86        # left margin for the row labels ("7 -> 7")
TITLE_H = 66        # a bold title line and two grey lines of explanation
MARGIN = 10
DIGIT_CELL = 56     # misclassified.png: one digit, with its caption above
CAPTION_H = 16
CURVE_SIZE = (800, 450)

WRONG = '#c0001a'   # labels of misclassified digits
GREY = '0.35'


class VisualizeError(Exception):
    """No checkpoint, an unreadable one, or one no recipe fits; the message says which."""


# --- flags ------------------------------------------------------------------------

def parse_args(argv=None):
    p = mnist_data.ArgumentParser(
        description='Plot the filters, activations, mistakes and learning curve of a '
                    'deep_cnn.py checkpoint (seed 001).')
    where = p.add_mutually_exclusive_group()
    where.add_argument('--checkpoint_dir',
                       help='restore the latest checkpoint here (default: train_data/%s)'
                            % DEFAULT_RECIPE)
    where.add_argument('--checkpoint', metavar='PATH',
                       help='restore this checkpoint, e.g. train_data/expert/model.ckpt-20000')
    p.add_argument('--data_dir', default=mnist_data.default_data_dir(),
                   help='MNIST files (default: $MNIST_DATA_DIR or MNIST_data)')
    p.add_argument('--output_dir', default='figures', help='where the PNGs go (default: figures)')
    samples = mnist_data.checked_type(int, lambda v: 1 <= v <= MAX_SAMPLES,
                                      'an integer from 1 to %d' % MAX_SAMPLES)
    p.add_argument('--samples', type=samples, default=10,
                   help='test digits in conv1.png and conv2.png, the first of the test set '
                        '(default: 10)')
    p.add_argument('--subfilter', type=mnist_data.nonnegative_int, default=0,
                   help='which of the 32 sub-filters of each conv2 filter conv2.png shows '
                        '(default: 0, as in seed 001)')
    p.add_argument('--conv2_filter', type=mnist_data.nonnegative_int, metavar='K',
                   help='also write conv2_filter<K>.png: all sub-filters of conv2 filter K')
    p.add_argument('--misclassified', type=mnist_data.nonnegative_int, default=50, metavar='N',
                   help='show at most N misclassified test digits, 0 for no figure (default: 50)')
    p.add_argument('--log_dir',
                   help='TensorBoard logs for the learning curve when run.json has none '
                        "(default: run.json's log_dir, else logs/<recipe>)")
    p.add_argument('--show', action='store_true', help='also open the figures in windows')
    return p.parse_args(argv)


# --- the checkpoint -------------------------------------------------------------

def _step_of(path):
    match = re.search(r'-(\d+)$', path)
    return int(match.group(1)) if match else -1


def find_checkpoint(checkpoint_dir=None, checkpoint=None):
    """The checkpoint prefix to restore: ``checkpoint`` (a prefix, or its .index or
    .data file, or a directory), else the latest one in ``checkpoint_dir``."""
    if checkpoint:
        if os.path.isdir(checkpoint):
            checkpoint_dir = checkpoint
        else:
            prefix = re.sub(r'\.(index|data-\d+-of-\d+)$', '', checkpoint)
            if os.path.exists(prefix + '.index'):
                return prefix
            if os.path.exists(checkpoint):
                return checkpoint   # not a checkpoint's name: let the reader say what it is
            raise VisualizeError('no checkpoint at %s' % checkpoint)
    checkpoint_dir = checkpoint_dir or os.path.join('train_data', DEFAULT_RECIPE)
    hint = 'train one first, e.g. python deep_cnn.py --checkpoint_dir %s' % checkpoint_dir
    if not os.path.isdir(checkpoint_dir):
        raise VisualizeError('no checkpoint directory %s; %s' % (checkpoint_dir, hint))
    tf = deep_cnn.import_tf()
    latest = tf.train.latest_checkpoint(checkpoint_dir)
    if latest is None:
        # The 'checkpoint' state file may be gone while the checkpoints are still there.
        found = [p[:-len('.index')] for p in glob.glob(os.path.join(checkpoint_dir, '*.index'))]
        latest = max(found, key=_step_of) if found else None
    if latest is None:
        raise VisualizeError('no checkpoint in %s; %s' % (checkpoint_dir, hint))
    return latest


def read_checkpoint(path):
    """(variable name -> shape, global step or None) of a checkpoint, without a graph."""
    tf = deep_cnn.import_tf()
    try:
        reader = tf.train.load_checkpoint(path)
        shapes = reader.get_variable_to_shape_map()
        step = int(reader.get_tensor('global_step')) if 'global_step' in shapes else None
    except (tf.errors.OpError, ValueError) as e:
        raise VisualizeError('%s is not a readable TensorFlow checkpoint (%s)'
                             % (path, _one_line(e))) from None
    return shapes, step


def _one_line(error):
    """TensorFlow's message on one line, without its guess at a cause."""
    text = getattr(error, 'message', None) or str(error)
    return ' '.join(text.split(': perhaps')[0].split())


_recipe_variables = {}


def recipe_variables(name):
    """{variable name: shape} of a recipe's network, as deep_cnn.deepnn builds it."""
    if name not in _recipe_variables:
        tf = deep_cnn.import_tf()
        with tf.Graph().as_default():
            x = tf.placeholder(tf.float32, [None, 784])
            net = deep_cnn.deepnn(x, deep_cnn.RECIPES[name])
            _recipe_variables[name] = {v.op.name: v.shape.as_list()
                                       for v in net.variables.values()}
    return _recipe_variables[name]


def identify_recipe(shapes, claimed=None):
    """The recipe whose network the checkpoint holds: ``claimed`` (run.json's) when its
    variables fit, else the first recipe that fits. Networks of several recipes are
    alike (expert, original, summaries, epochs); their predictions agree either way."""
    order = [claimed] if claimed in deep_cnn.RECIPES else []
    order += [n for n in deep_cnn.RECIPES if n != claimed]
    first_miss = None
    for name in order:
        misses = [(v, s) for v, s in recipe_variables(name).items() if shapes.get(v) != s]
        if not misses:
            return name
        first_miss = first_miss or (name, misses[0])
    name, (var, shape) = first_miss
    found = 'has no %s' % var if var not in shapes else 'has %s %s' % (var, shapes[var])
    raise VisualizeError('the checkpoint matches no recipe of deep_cnn.py: it %s, recipe '
                         '%s has %s' % (found, name, shape))


def restore_and_evaluate(checkpoint, recipe, images, samples, conv2_filter=None):
    """Rebuild the recipe's network, restore ``checkpoint`` and run it.

    Returns numpy arrays: 'W_conv1' (and 'W_conv2'), the pooled maps 'h_pool1' (and
    'h_pool2') of the first ``samples`` images, 'predictions' for all ``images``
    (batches of deep_cnn.EVAL_BATCH) and, with ``conv2_filter`` K, for the first image
    'contributions' (each sub-filter of K on its pooled conv1 map) and 'h_conv2_k'.
    """
    tf = deep_cnn.import_tf()
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 784], name='x-input')
        net = deep_cnn.deepnn(x, deep_cnn.RECIPES[recipe])
        layers = net.layers
        prediction = tf.argmax(net.logits, 1)
        fetches = {n: layers[n] for n in ('W_conv1', 'h_pool1', 'W_conv2', 'h_pool2')
                   if n in layers}
        if conv2_filter is not None:
            k = conv2_filter
            # 001: conv2 filter K runs each of its 32 sub-filters over the matching pooled
            # conv1 map and adds the results; depthwise_conv2d keeps the 32 apart.
            fetches['contributions'] = tf.nn.depthwise_conv2d(
                layers['h_pool1'][:1], layers['W_conv2'][:, :, :, k:k + 1],
                strides=[1, 1, 1, 1], padding='SAME')[0]
            fetches['h_conv2_k'] = layers['h_conv2'][0, :, :, k]
        # Only the network's variables: global_step and Adam's slots stay on disk.
        saver = tf.train.Saver(var_list=list(net.variables.values()))
    with deep_cnn.new_session(graph) as sess:
        try:
            saver.restore(sess, checkpoint)
        except (tf.errors.OpError, ValueError) as e:
            raise VisualizeError('cannot restore %s: %s' % (checkpoint, _one_line(e))) from None
        out = sess.run(fetches, feed_dict={x: images[:samples]})
        out['predictions'] = np.concatenate([
            sess.run(prediction, feed_dict={x: images[i:i + deep_cnn.EVAL_BATCH]})
            for i in range(0, len(images), deep_cnn.EVAL_BATCH)])
    return out


def misclassified(labels, predictions):
    """Indices of the test digits whose prediction is not their label, in test-set order."""
    return np.flatnonzero(np.asarray(predictions) != np.asarray(labels))


# --- the learning curve's numbers ----------------------------------------------

def read_events(log_dir, subdir):
    """{step: accuracy} from the TensorBoard event files in log_dir/subdir (tag
    'accuracy'; 'accuracy_1' as TF's own summary ops would name it beside the
    'accuracy' name scope). Later files win for a step that was run twice."""
    tf = deep_cnn.import_tf()
    values = {}
    for path in sorted(glob.glob(os.path.join(log_dir, subdir, 'events.out.tfevents.*'))):
        try:
            for event in tf.train.summary_iterator(path):
                for value in event.summary.value:
                    if re.fullmatch(r'accuracy(_\d+)?', value.tag):
                        values[int(event.step)] = float(value.simple_value)
        except tf.errors.OpError:
            continue    # a file cut short by a killed run: keep what was read
    return values


def learning_curve(record, log_dir):
    """The learning curve: {'train': [(step, accuracy)], 'test': [...], 'final': (step,
    test accuracy) or None, 'source': text}, from run.json's record, else from the
    event files under log_dir; None when neither has a point."""
    final = None
    if record.get('test_accuracy') is not None:
        final = (record.get('steps'), record['test_accuracy'])
    if record.get('history'):
        return {'train': [tuple(h) for h in record['history']], 'test': [],
                'final': final, 'source': 'run.json'}
    train = read_events(log_dir, 'train')
    test = read_events(log_dir, 'test')
    if not train and not test:
        return None
    return {'train': sorted(train.items()), 'test': sorted(test.items()), 'final': final,
            'source': 'TensorBoard events in %s' % log_dir}


# --- figures: numpy arrays in, matplotlib figures out ---------------------------

class Grid:
    """Image cells in row groups, placed in pixels, so a figure's size is exact.

    ``groups`` lists the rows of each group: the first group (the filters) is set off
    by HEADER_GAP, the others by ``group_gap``; rows of one group by GAP.
    """

    def __init__(self, groups, cols, cell=CELL, group_gap=GAP, header_gap=HEADER_GAP,
                 left=LABEL_W, top=TITLE_H, row_top=0):
        self.cell, self.left = cell, left
        self.row_y = []
        y = top
        for g, rows in enumerate(groups):
            if g:
                y += header_gap if g == 1 else group_gap
            for r in range(rows):
                y += row_top + (GAP if r else 0)
                self.row_y.append(y)
                y += cell
        self.width = left + cols * cell + (cols - 1) * GAP + MARGIN
        self.height = y + MARGIN

    def size(self):
        """(width, height) of the PNG in pixels."""
        return self.width, self.height

    def figure(self, title, subtitle=''):
        import matplotlib.pyplot as plt
        # +0.5: matplotlib truncates width * dpi to whole pixels.
        fig = plt.figure(figsize=((self.width + 0.5) / DPI, (self.height + 0.5) / DPI),
                         dpi=DPI)
        fig.text(MARGIN / self.width, 1 - 8 / self.height, title, fontsize=11,
                 weight='bold', va='top')
        fig.text(MARGIN / self.width, 1 - 29 / self.height, subtitle, fontsize=8.5,
                 color=GREY, va='top')
        return fig

    def x(self, col):
        """Left edge of a column, in pixels."""
        return self.left + col * (self.cell + GAP)

    def image(self, fig, row, col, array, **imshow):
        """Draw a 2-D array into a cell: seed 001's gray_r, nearest, no ticks."""
        x, y = self.x(col), self.row_y[row]
        ax = fig.add_axes([x / self.width, 1 - (y + self.cell) / self.height,
                           self.cell / self.width, self.cell / self.height])
        ax.imshow(array, cmap='gray_r', interpolation='nearest', **imshow)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_color('0.7')
            spine.set_linewidth(0.6)
        return ax

    def label(self, fig, row, col, text, color='black'):
        """Text right-aligned just left of a cell, at its middle height."""
        x, y = self.x(col) - 5, self.row_y[row] + self.cell / 2
        fig.text(x / self.width, 1 - y / self.height, text, ha='right', va='center',
                 fontsize=9, color=color)


def layer_grid(num_filters, samples, rows=1):
    """The grid of conv1.png (rows=1) or conv2.png (rows=2): a digit column and
    num_filters / rows columns; the filters, then ``rows`` rows per digit."""
    return Grid([rows] * (samples + 1), 1 + num_filters // rows,
                group_gap=DIGIT_GAP if rows > 1 else GAP)


def _digit_label(label, prediction):
    return '%d \u2192 %d' % (label, prediction), ('black' if label == prediction else WRONG)


def plot_layer(filters, images, maps, labels, predictions, rows=1, title='', subtitle='',
               filter_label='filters'):
    """Seed 001's figure: ``filters`` [h, w, n] across the top in ``rows`` rows; then
    each image [784] with its label and prediction, and its maps [s, s, n] below."""
    n = filters.shape[-1]
    per_row = n // rows
    grid = layer_grid(n, len(images), rows)
    fig = grid.figure(title, subtitle)
    for r in range(rows):
        for j in range(per_row):
            grid.image(fig, r, 1 + j, filters[:, :, r * per_row + j])
        span = '%d\u2013%d' % (r * per_row, (r + 1) * per_row - 1)
        text = filter_label if rows == 1 else filter_label + '\n' + span if r == 0 else span
        grid.label(fig, r, 1, text, color=GREY)
    for d, image in enumerate(images):
        top = rows * (d + 1)
        grid.image(fig, top, 0, image.reshape(28, 28), vmin=0, vmax=1)
        text, color = _digit_label(labels[d], predictions[d])
        grid.label(fig, top, 0, text, color=color)
        for r in range(rows):
            for j in range(per_row):
                grid.image(fig, top + r, 1 + j, maps[d, :, :, r * per_row + j])
    return fig


def conv2_filter_grid(inputs):
    """The grid of conv2_filter<K>.png: the conv1 filters and the sub-filters, then one
    digit's pooled conv1 maps and what each sub-filter makes of them."""
    return Grid([2, 2], 1 + inputs)


def plot_conv2_filter(k, conv1_filters, subfilters, image, label, prediction, pooled1,
                      contributions, h_conv2_k, title='', subtitle=''):
    """conv2 filter K taken apart: conv1_filters [5, 5, n], subfilters [5, 5, n] (the
    sub-filters of K), and for one digit its pooled conv1 maps [s, s, n], each
    sub-filter's response to its map [s, s, n] and the resulting conv2 map [s, s]."""
    n = subfilters.shape[-1]
    grid = conv2_filter_grid(n)
    fig = grid.figure(title, subtitle)
    # Shared, symmetric scales: mid-grey is 0, so the sub-filters (and the channels)
    # that matter to K stand out; per-cell scaling would make them all look alike.
    w = float(np.abs(subfilters).max()) or 1.0
    c = float(np.abs(contributions).max()) or 1.0
    for i in range(n):
        grid.image(fig, 0, 1 + i, conv1_filters[:, :, i])
        grid.image(fig, 1, 1 + i, subfilters[:, :, i], vmin=-w, vmax=w)
        grid.image(fig, 2, 1 + i, pooled1[:, :, i])
        grid.image(fig, 3, 1 + i, contributions[:, :, i], vmin=-c, vmax=c)
    grid.label(fig, 0, 1, 'conv1\nfilters', color=GREY)
    grid.label(fig, 1, 1, 'sub-filters\nof %d' % k, color=GREY)
    grid.image(fig, 2, 0, image.reshape(28, 28), vmin=0, vmax=1)
    text, color = _digit_label(label, prediction)
    grid.label(fig, 2, 0, text, color=color)
    grid.image(fig, 3, 0, h_conv2_k)
    grid.label(fig, 3, 0, 'conv2\nmap %d' % k, color=GREY)
    return fig


def misclassified_grid(count):
    """The grid of misclassified.png for ``count`` digits (one empty row for none)."""
    rows = max(1, math.ceil(count / MISCLASSIFIED_COLS))
    return Grid([1] * rows, MISCLASSIFIED_COLS, cell=DIGIT_CELL, group_gap=GAP, header_gap=GAP,
                left=MARGIN, row_top=CAPTION_H)


def plot_misclassified(images, labels, predictions, indices, total, title='', subtitle=''):
    """The digits images[indices], each captioned 'label -> prediction' and its index."""
    grid = misclassified_grid(len(indices))
    fig = grid.figure(title, subtitle)
    for n, i in enumerate(indices):
        row, col = divmod(n, MISCLASSIFIED_COLS)
        ax = grid.image(fig, row, col, images[i].reshape(28, 28), vmin=0, vmax=1)
        ax.set_title('%d \u2192 %d' % (labels[i], predictions[i]), fontsize=9, color=WRONG,
                     pad=2)
        ax.text(0.97, 0.03, str(i), transform=ax.transAxes, ha='right', va='bottom',
                fontsize=6, color=GREY)
    if not len(indices):
        fig.text(0.5, 1 - (grid.row_y[0] + DIGIT_CELL / 2) / grid.height,
                 'none: the model gets all %d test digits right' % total,
                 ha='center', va='center', fontsize=10, color=GREY)
    return fig


def plot_learning_curve(curve, title=''):
    """Training accuracy over the steps, the test accuracy where known."""
    import matplotlib.pyplot as plt
    width, height = CURVE_SIZE
    fig = plt.figure(figsize=((width + 0.5) / DPI, (height + 0.5) / DPI), dpi=DPI)
    ax = fig.add_axes([0.08, 0.11, 0.9, 0.76])
    if curve['train']:
        steps, acc = np.array(curve['train'], dtype=float).T
        ax.plot(steps, acc, '.-', color='0.6', lw=0.8, ms=3,
                label='training accuracy (one batch)')
        if len(acc) >= 20:
            window = max(3, len(acc) // 20)
            smooth = np.convolve(acc, np.ones(window) / window, mode='valid')
            ax.plot(steps[window - 1:], smooth, color='black', lw=1.6,
                    label='training accuracy, mean of %d' % window)
    if curve['test']:
        steps, acc = np.array(curve['test'], dtype=float).T
        ax.plot(steps, acc, '.-', color='#1f5fa8', lw=1.2, ms=4,
                label='test accuracy (TensorBoard summaries)')
    if curve['final']:
        step, acc = curve['final']
        ax.axhline(acc, color=WRONG, ls='--', lw=1)
        ax.plot([step], [acc], 'o', color=WRONG,
                label='test accuracy %.4f at step %s' % (acc, step))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel('step')
    ax.set_ylabel('accuracy')
    ax.grid(True, color='0.9')
    ax.legend(loc='lower right', fontsize=9, frameon=False)
    fig.text(MARGIN / width, 1 - 8 / height, title, fontsize=11, weight='bold', va='top')
    fig.text(MARGIN / width, 1 - 29 / height, 'from %s' % curve['source'], fontsize=8.5,
             color=GREY, va='top')
    return fig


# --- the command line -----------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    if not args.show:
        matplotlib.use('Agg')   # headless: no display needed, nothing pops up
    try:
        return visualize(args)
    except (VisualizeError, mnist_data.MNISTDataError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print('visualize_filters: interrupted', file=sys.stderr)
        return 130


def visualize(args):
    """Restore, evaluate, draw; returns the exit code."""
    checkpoint = find_checkpoint(args.checkpoint_dir, args.checkpoint)
    shapes, step = read_checkpoint(checkpoint)
    if step is None:
        step = _step_of(checkpoint)
    record = deep_cnn.read_run_json(os.path.dirname(checkpoint))
    recipe = identify_recipe(shapes, record.get('recipe'))
    if record.get('recipe') not in (None, recipe):
        print('visualize_filters: run.json names recipe %r, but the checkpoint holds a %s '
              'network' % (record['recipe'], recipe), file=sys.stderr)
        record = {}
    w2 = shapes.get('conv2/W_conv2')
    if args.conv2_filter is not None and w2 is None:
        raise VisualizeError('--conv2_filter: the %s network has no conv2 layer' % recipe)
    if w2 is not None:
        for flag, value, limit, what in (
                ('--subfilter', args.subfilter, w2[2], 'each conv2 filter has %d sub-filters'),
                ('--conv2_filter', args.conv2_filter, w2[3], 'conv2 has %d filters')):
            if value is not None and value >= limit:
                raise VisualizeError('%s %d: %s, 0-%d' % (flag, value, what % limit, limit - 1))

    mnist = mnist_data.read_data_sets(args.data_dir, one_hot=True)
    images = mnist.test.images
    labels = np.argmax(mnist.test.labels, axis=1)
    out = restore_and_evaluate(checkpoint, recipe, images, args.samples, args.conv2_filter)
    predictions = out['predictions']
    wrong = misclassified(labels, predictions)
    accuracy = 1 - len(wrong) / len(labels)
    name = os.path.basename(checkpoint)
    print('visualize_filters: %s (recipe %s, step %d): test accuracy %.4f, %d misclassified'
          % (checkpoint, recipe, step, accuracy, len(wrong)), file=sys.stderr)

    about = '%s, recipe %s, step %d, test accuracy %.4f' % (name, recipe, step, accuracy)
    rows = ('Each row: a test digit, label \u2192 prediction (red: wrong), then its maps. '
            'Dark = large; each image on its own scale.')
    samples = slice(0, args.samples)
    figures = []
    n1 = out['W_conv1'].shape[-1]
    figures.append((CONV1_NAME, plot_layer(
        out['W_conv1'][:, :, 0, :], images[samples], out['h_pool1'], labels[samples],
        predictions[samples], rows=1, filter_label='W_conv1',
        title='conv1: %d filters (5\u00d75) and the pooled maps h_pool1 (14\u00d714) of '
              '%d test digits' % (n1, args.samples),
        subtitle='%s.\n%s' % (about, rows))))
    if 'W_conv2' in out:
        n2 = out['W_conv2'].shape[-1]
        figures.append((CONV2_NAME, plot_layer(
            out['W_conv2'][:, :, args.subfilter, :], images[samples], out['h_pool2'],
            labels[samples], predictions[samples], rows=2, filter_label='W_conv2',
            title='conv2: sub-filter %d of each of its %d filters, and the pooled maps '
                  'h_pool2 (7\u00d77) of %d test digits' % (args.subfilter, n2, args.samples),
            subtitle='%s.\n%s' % (about, rows))))
    if args.conv2_filter is not None:
        k = args.conv2_filter
        figures.append(('conv2_filter%d.png' % k, plot_conv2_filter(
            k, out['W_conv1'][:, :, 0, :], out['W_conv2'][:, :, :, k], images[0], labels[0],
            predictions[0], out['h_pool1'][0], out['contributions'], out['h_conv2_k'],
            title='conv2 filter %d: its %d sub-filters, one per conv1 map, and how they '
                  'add up for one digit' % (k, out['W_conv2'].shape[2]),
            subtitle='%s.\nRows: the conv1 filters; the sub-filters of %d (grey = 0); a '
                     'digit\'s pooled conv1 maps; each sub-filter run over its map (grey = 0). '
                     'Their sum + bias, through the ReLU, is conv2 map %d.' % (about, k, k))))

    shown = wrong[:args.misclassified]
    if args.misclassified:
        figures.append((MISCLASSIFIED_NAME, plot_misclassified(
            images, labels, predictions, shown, len(labels),
            title='Misclassified test digits: %d of %d%s' % (
                len(wrong), len(labels),
                ', the first %d shown' % len(shown) if len(shown) < len(wrong) else ''),
            subtitle='%s.\nCaptions: label \u2192 prediction; small number: index in the '
                     'test set.' % about)))

    log_dir = (args.log_dir or record.get('flags', {}).get('log_dir')
               or os.path.join('logs', recipe))
    curve = learning_curve(record, log_dir)
    if curve is not None and curve['final'] is None:
        curve['final'] = (step, accuracy)
    if curve is None:
        print('visualize_filters: no learning curve: no run.json history beside %s and no '
              'event files in %s' % (checkpoint, log_dir), file=sys.stderr)
    else:
        figures.append((CURVE_NAME, plot_learning_curve(
            curve, title='Learning curve: recipe %s, %s' % (recipe, name))))

    import matplotlib.pyplot as plt
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        for filename, fig in figures:
            path = os.path.join(args.output_dir, filename)
            fig.savefig(path, dpi=DPI)
            print('wrote %s' % path, flush=True)
            if not args.show:
                plt.close(fig)
        if args.misclassified:
            path = os.path.join(args.output_dir, 'misclassified.json')
            with open(path, 'w') as f:
                json.dump({'checkpoint': checkpoint, 'recipe': recipe, 'step': step,
                           'test_images': len(labels), 'misclassified': len(wrong),
                           'shown': [{'index': int(i), 'label': int(labels[i]),
                                      'prediction': int(predictions[i])} for i in shown]},
                          f, indent=1)
                f.write('\n')
            print('wrote %s' % path)
    except OSError as e:
        raise VisualizeError('cannot write into %s: %s' % (args.output_dir, e)) from None
    if args.show:
        plt.show()
    return 0


if __name__ == '__main__':
    sys.exit(main())
