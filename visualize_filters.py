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
                         (--upsample: the 7x7 maps drawn smoothly interpolated)
  conv2_filter<K>.png    (--conv2_filter K) the 32 sub-filters of conv2 filter K beside
                         the conv1 filters they read, and how they add up for one digit
  misclassified.png      test digits the model gets wrong, "label -> prediction  #index"
                         (also in misclassified.json)
  learning_curve.png     error rate (log scale) and loss over the steps, of the training
                         batches (run.json or train/ events) and the test digits (test/
                         events), with the final test error
"""

import dataclasses
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
import runs

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
DIGIT_CELL = 72     # misclassified.png: one digit; its caption "9 → 4  #9999" fits above
CAPTION_H = 16
CURVE_SIZE = (800, 620)

WRONG = '#c0001a'   # labels of misclassified digits
GREY = '0.35'


class VisualizeError(Exception):
    """No checkpoint, an unreadable one, or one no recipe fits; the message says which."""


# --- flags ------------------------------------------------------------------------

def parse_args(argv=None):
    p = runs.ArgumentParser(
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
    samples = runs.checked_type(int, lambda v: 1 <= v <= MAX_SAMPLES,
                                      'an integer from 1 to %d' % MAX_SAMPLES)
    p.add_argument('--samples', type=samples, default=10,
                   help='test digits in conv1.png and conv2.png, the first of the test set '
                        '(default: 10)')
    p.add_argument('--subfilter', type=runs.nonnegative_int, default=0,
                   help='which of the 32 sub-filters of each conv2 filter conv2.png shows '
                        '(default: 0, as in seed 001)')
    p.add_argument('--conv2_filter', type=runs.nonnegative_int, metavar='K',
                   help='also write conv2_filter<K>.png: all sub-filters of conv2 filter K')
    p.add_argument('--misclassified', type=runs.nonnegative_int, default=50, metavar='N',
                   help='show at most N misclassified test digits, 0 for no figure (default: 50)')
    p.add_argument('--log_dir',
                   help='TensorBoard logs for the learning curve when run.json has none '
                        "(default: the log_dir that run.json records)")
    p.add_argument('--show', action='store_true', help='also open the figures in windows')
    p.add_argument('--upsample', action='store_true',
                   help="draw conv2.png's 7x7 maps smoothly interpolated (bilinear) instead "
                        'of as blocks of cells, as seed 001 does')
    return p.parse_args(argv)


# --- the checkpoint and the config that trained it ----------------------------------

def find_checkpoint(checkpoint_dir=None, checkpoint=None):
    """The checkpoint prefix to restore: ``checkpoint`` (a prefix, or its .index or
    .data file, or a directory), else the newest one in ``checkpoint_dir``."""
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
    checkpoint_dir = checkpoint_dir or runs.default_checkpoint_dir(DEFAULT_RECIPE)
    hint = 'train one first, e.g. python deep_cnn.py --checkpoint_dir %s' % checkpoint_dir
    if not os.path.isdir(checkpoint_dir):
        raise VisualizeError('no checkpoint directory %s; %s' % (checkpoint_dir, hint))
    latest = runs.latest_checkpoint(checkpoint_dir)
    if latest is None:
        raise VisualizeError('no checkpoint in %s; %s' % (checkpoint_dir, hint))
    return latest


def read_checkpoint(path):
    """(variable name -> shape, global step) of a checkpoint, without a graph."""
    tf = runs.import_tf()
    try:
        reader = tf.train.load_checkpoint(path)
        shapes = reader.get_variable_to_shape_map()
        if 'global_step' in shapes:
            return shapes, int(reader.get_tensor('global_step'))
    except (tf.errors.OpError, ValueError, IndexError) as e:
        raise VisualizeError('%s is not a readable TensorFlow checkpoint (%s)'
                             % (path, runs.tf_message(e))) from None
    match = re.search(r'-(\d+)$', path)
    return shapes, int(match.group(1)) if match else -1


def network_shapes(config):
    """{variable name: shape} of config's network, as deep_cnn.deepnn builds it."""
    tf = runs.import_tf()
    with tf.Graph().as_default():
        tf.set_random_seed(0)   # never run: a seed only so op determinism allows the graph
        net = deep_cnn.deepnn(tf.placeholder(tf.float32, [None, 784]), config)
        return {v.op.name: v.shape.as_list() for v in net.variables.values()}


def misfit(config, shapes):
    """The first variable of config's network the checkpoint lacks or shapes otherwise,
    as (name, shape in the network); None when the checkpoint fits."""
    for name, shape in network_shapes(config).items():
        if shapes.get(name) != shape:
            return name, shape
    return None


def checkpoint_config(checkpoint, shapes):
    """(Config, run.json record) of the run that wrote the checkpoint. From its run.json
    when that names a config whose network fits; else guessed from the variable shapes,
    with a line saying so (several recipes share a network: expert, original,
    summaries and fast do), and an empty record."""
    record = runs.read_run_json(os.path.dirname(checkpoint))
    config = deep_cnn.config_from_record(record)
    if config is not None and misfit(config, shapes) is None:
        return config, record
    why = ('run.json names recipe %r, but the checkpoint holds another network'
           % config.recipe if config else 'no run.json config beside it')
    fits = [name for name, row in deep_cnn.RECIPES.items() if misfit(row, shapes) is None]
    if not fits:
        row = deep_cnn.RECIPES[DEFAULT_RECIPE]
        name, shape = misfit(row, shapes)
        found = 'has no %s' % name if name not in shapes else 'has %s %s' % (name, shapes[name])
        raise VisualizeError('%s matches no recipe of deep_cnn.py: it %s, recipe %s has %s'
                             % (checkpoint, found, row.recipe, shape))
    print('visualize_filters: %s: %s; guessed recipe %s from the variable shapes (they fit %s)'
          % (checkpoint, why, fits[0], ', '.join(fits)), file=sys.stderr)
    return deep_cnn.resolve(fits[0]), {}


def restore_and_evaluate(checkpoint, config, images, samples, conv2_filter=None):
    """Rebuild config's network, restore ``checkpoint`` and run it.

    Returns numpy arrays: 'W_conv1' (and 'W_conv2'), the pooled maps 'h_pool1' (and
    'h_pool2') of the first ``samples`` images, 'predictions' for all ``images``
    (batches of deep_cnn.EVAL_BATCH) and, with ``conv2_filter`` K, for the first image
    'contributions' (each sub-filter of K on its pooled conv1 map) and 'h_conv2_k'.
    """
    tf = runs.import_tf()
    graph = tf.Graph()
    with graph.as_default():
        # The initialisers never run (the checkpoint is restored), but once a seeded run in
        # this process has turned op determinism on, random ops need a seed to be built.
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 784], name='x-input')
        net = deep_cnn.deepnn(x, config)
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
    # The precision it was trained in (bf16 for fast), so its accuracy is the one printed.
    with runs.new_session(graph, config=deep_cnn.session_config(config)) as sess:
        try:
            saver.restore(sess, checkpoint)
        except (tf.errors.OpError, ValueError) as e:
            raise VisualizeError('cannot restore %s: %s'
                                 % (checkpoint, runs.tf_message(e))) from None
        out = sess.run(fetches, feed_dict={x: images[:samples]})
        out['predictions'] = np.concatenate([
            sess.run(prediction, feed_dict={x: images[i:i + deep_cnn.EVAL_BATCH]})
            for i in range(0, len(images), deep_cnn.EVAL_BATCH)])
    return out


def misclassified(labels, predictions):
    """Indices of the test digits whose prediction is not their label, in test-set order."""
    return np.flatnonzero(np.asarray(predictions) != np.asarray(labels))


# --- the learning curve's numbers ----------------------------------------------

def _read_event_file(path):
    """{'accuracy': {step: value}, 'cross_entropy': {...}} of one event file; also
    'accuracy_1' as TF's own summary ops would name it beside the 'accuracy' scope."""
    tf = runs.import_tf()
    found = {'accuracy': {}, 'cross_entropy': {}}
    try:
        for event in tf.train.summary_iterator(path):
            for value in event.summary.value:
                match = re.fullmatch(r'(accuracy|cross_entropy)(_\d+)?', value.tag)
                if match:
                    found[match.group(1)][int(event.step)] = float(value.simple_value)
    except tf.errors.OpError:
        pass    # a file cut short by a killed run: keep what was read
    return found


def read_events(log_dir, subdir):
    """{'accuracy': {step: value}, 'cross_entropy': {...}} from the event files in
    log_dir/subdir, oldest first: a resumed run's file replaces the steps it redid."""
    scalars = {'accuracy': {}, 'cross_entropy': {}}
    pattern = os.path.join(log_dir or '', subdir, 'events.out.tfevents.*')
    for path in sorted(glob.glob(pattern)) if log_dir else ():
        found = _read_event_file(path)
        first = min((s for values in found.values() for s in values), default=None)
        if first is not None:
            for tag, values in found.items():
                kept = {s: v for s, v in scalars[tag].items() if s < first}
                scalars[tag] = {**kept, **values}
    return scalars


def learning_curve(record, log_dir):
    """The learning curve: 'train', 'test', 'train_loss', 'test_loss': [(step, value)],
    'final': (step, test accuracy) or None, 'batch' and 'test_digits' (the images behind
    a point) or None, 'source'. Training accuracy from run.json's history (every
    --log_every steps), else from the event files under log_dir, as is all the rest;
    None when there is no point."""
    train, test = read_events(log_dir, 'train'), read_events(log_dir, 'test')
    history = [tuple(h) for h in record.get('history') or []]
    curve = {'train': history or sorted(train['accuracy'].items()),
             'test': sorted(test['accuracy'].items()),
             'train_loss': sorted(train['cross_entropy'].items()),
             'test_loss': sorted(test['cross_entropy'].items())}
    events = any(v for tags in (train, test) for v in tags.values())
    if not history and not events:
        return None
    final = None
    if record.get('test_accuracy') is not None:
        final = (record.get('steps'), record['test_accuracy'])
    sources = ['run.json'] * bool(history) + ['TensorBoard events in %s' % log_dir] * events
    config = record.get('config') or record.get('flags') or {}   # 'flags': older run.json
    curve.update(final=final, batch=config.get('batch_size'),
                 test_digits=config.get('test_summary_size'), source=' and '.join(sources))
    return curve


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
        """Draw a 2-D array into a cell: seed 001's gray_r, nearest unless told, no ticks."""
        x, y = self.x(col), self.row_y[row]
        ax = fig.add_axes([x / self.width, 1 - (y + self.cell) / self.height,
                           self.cell / self.width, self.cell / self.height])
        ax.imshow(array, **{'cmap': 'gray_r', 'interpolation': 'nearest', **imshow})
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


# conv2.png's caption line: 7x7 blocks mean little to a learner without it (issue 13).
POOLED2_CAPTION = ('The pooled map in filter k\'s place says where in the digit conv2 filter '
                   'k found its pattern; two 2\u00d72 poolings shrank 28\u00d728 to '
                   '7\u00d77, so one cell stands for a 4\u00d74 patch of the digit.')
SMOOTHED_CAPTION = ' Drawn smoothed (--upsample); the network sees the 7\u00d77 cells.'


def plot_layer(filters, images, maps, labels, predictions, rows=1, title='', subtitle='',
               filter_label='filters', map_interpolation='nearest'):
    """Seed 001's figure: ``filters`` [h, w, n] across the top in ``rows`` rows; then
    each image [784] with its label and prediction, and its maps [s, s, n] below,
    drawn with imshow's ``map_interpolation``."""
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
                grid.image(fig, top + r, 1 + j, maps[d, :, :, r * per_row + j],
                           interpolation=map_interpolation)
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
    """The digits images[indices], each captioned 'label -> prediction  #index'."""
    grid = misclassified_grid(len(indices))
    fig = grid.figure(title, subtitle)
    for n, i in enumerate(indices):
        row, col = divmod(n, MISCLASSIFIED_COLS)
        ax = grid.image(fig, row, col, images[i].reshape(28, 28), vmin=0, vmax=1)
        # The index shares the caption line above the cell: drawn inside the cell, it
        # hid the ink of the digits (issue 13).
        ax.set_title('%d \u2192 %d' % (labels[i], predictions[i]), loc='left', fontsize=9,
                     color=WRONG, pad=3)
        ax.set_title('#%d' % i, loc='right', fontsize=6.5, color=GREY, pad=3)
    if not len(indices):
        fig.text(0.5, 1 - (grid.row_y[0] + DIGIT_CELL / 2) / grid.height,
                 'none: the model gets all %d test digits right' % total,
                 ha='center', va='center', fontsize=10, color=GREY)
    return fig


TEST_COLOR = '#1f5fa8'
LIGHT = '0.7'       # one-batch training points


def moving_average(values, half_width):
    """Centred mean of each value and up to ``half_width`` neighbours a side; the window
    narrows towards both ends, so the line covers every point and does not lag."""
    values = np.asarray(values, dtype=float)
    i = np.arange(len(values))
    h = np.minimum(np.minimum(i, len(values) - 1 - i), half_width)
    total = np.concatenate([[0.0], np.cumsum(values)])
    return (total[i + h + 1] - total[i - h]) / (2 * h + 1)


def _log_axis(ax, ylabel, tick_text):
    """A log y axis ticked at 1, 2 and 5 of each decade, labelled ``tick_text(v)``."""
    from matplotlib import ticker
    ax.set_yscale('log')
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: tick_text(v)))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylabel(ylabel)
    ax.grid(True, color='0.9')


def _noisy_series(ax, steps, values, floor, labels):
    """One-batch values as light points, those below ``floor`` (a batch without an
    error, which a log axis cannot show) as triangles on it; their moving average."""
    low = values < floor
    ax.plot(steps[~low], values[~low], '.', color=LIGHT, ms=4, label=labels[0])
    if low.any():
        ax.plot(steps[low], np.full(low.sum(), floor), 'v', color=LIGHT, ms=4,
                clip_on=False, label=labels[1])
    smooth = moving_average(values, max(1, len(values) // 20))
    ax.plot(steps, np.maximum(smooth, floor), color='black', lw=1.5, label=labels[2])


def _plot_error(ax, curve):
    """The error rate panel: training batches, test digits, the final test error."""
    tested = [1 - a for _, a in curve['test']] + [1 - curve['final'][1]] * bool(curve['final'])
    # Down to 0.5 %, or lower when the test error gets there: the last percent is
    # what separates the recipes, and a 0-1 axis squashed it flat (issue 13).
    floor = min([0.005] + [0.7 * e for e in tested if e > 0])
    if curve['train']:
        steps, acc = np.array(curve['train'], dtype=float).T
        batch = ' of %d' % curve['batch'] if curve.get('batch') else ''
        _noisy_series(ax, steps, 1 - acc, floor, (
            'training: one batch%s' % batch, 'training: a batch without an error',
            'training: moving average'))
    if curve['test']:
        steps, acc = np.array(curve['test'], dtype=float).T
        n = curve.get('test_digits')
        digits = ' (first %d test digits)' % n if n else ''
        ax.plot(steps, 1 - acc, 'o-', color=TEST_COLOR, lw=1.8, ms=3.5,
                label='test error%s' % digits)
    if curve['final']:
        step, acc = curve['final']
        ax.plot([step], [1 - acc], '*', color=WRONG, ms=13, clip_on=False, zorder=3,
                label='final test error %.2f %% = accuracy %.2f %% (all test digits)'
                      % (100 * (1 - acc), 100 * acc))
    ax.set_ylim(floor, 1)
    _log_axis(ax, 'error rate (1 \u2212 accuracy)', lambda v: '%g %%' % (100 * v))
    ax.legend(loc='upper right', fontsize=8.5, frameon=False)


def _plot_loss(ax, curve):
    """The loss panel: cross entropy of the training batches and of the test digits."""
    if curve['train_loss']:
        steps, loss = np.array(curve['train_loss'], dtype=float).T
        _noisy_series(ax, steps, loss, 0, ('training: one batch', None,
                                           'training: moving average'))
    if curve['test_loss']:
        steps, loss = np.array(curve['test_loss'], dtype=float).T
        ax.plot(steps, loss, 'o-', color=TEST_COLOR, lw=1.8, ms=3.5, label='test')
    if not curve['train_loss'] and not curve['test_loss']:
        ax.text(0.5, 0.5, 'no loss recorded: run.json keeps the training accuracy only, '
                'and there are no TensorBoard event files', transform=ax.transAxes,
                ha='center', va='center', fontsize=9, color=GREY)
        ax.set_yticks([])
        return
    _log_axis(ax, 'loss (cross entropy)', lambda v: '%g' % v)
    ax.legend(loc='upper right', fontsize=8.5, frameon=False)


def plot_learning_curve(curve, title=''):
    """Error rate (log scale) and loss over the steps, for the training batches and the
    test digits, with the final test error; ``curve`` as learning_curve() makes it."""
    import matplotlib.pyplot as plt
    width, height = CURVE_SIZE
    fig = plt.figure(figsize=((width + 0.5) / DPI, (height + 0.5) / DPI), dpi=DPI)

    def box(left, top, w, h):   # pixels from the top left, as the Grid figures
        return [left / width, 1 - (top + h) / height, w / width, h / height]
    error_ax = fig.add_axes(box(72, 80, 708, 310))
    loss_ax = fig.add_axes(box(72, 410, 708, 160), sharex=error_ax)
    _plot_error(error_ax, curve)
    _plot_loss(loss_ax, curve)
    error_ax.tick_params(labelbottom=False)
    loss_ax.set_xlabel('training step')
    fig.text(MARGIN / width, 1 - 8 / height, title, fontsize=11, weight='bold', va='top')
    fig.text(MARGIN / width, 1 - 29 / height,
             'Grey: one training batch per logged step; black: their moving average; '
             'blue: test digits, never trained on; \u2605: final test error.\n'
             'Error rate = 1 \u2212 accuracy, on a log scale so the last percent shows. '
             'From %s.' % curve['source'], fontsize=8.5, color=GREY, va='top')
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


@dataclasses.dataclass
class Seen:
    """What visualize() learned from a checkpoint: the run, and its network on the test set."""
    checkpoint: str
    step: int
    config: object          # the deep_cnn.Config that trained it
    record: dict            # its run.json ({} when the recipe was guessed)
    images: np.ndarray      # the test images [N, 784]
    labels: np.ndarray      # their labels [N]
    out: dict               # what restore_and_evaluate returned
    wrong: np.ndarray       # indices of the misclassified test images

    @property
    def accuracy(self):
        return 1 - len(self.wrong) / len(self.labels)

    @property
    def about(self):
        return '%s, recipe %s, step %d, test accuracy %.4f' % (
            os.path.basename(self.checkpoint), self.config.recipe, self.step, self.accuracy)


def check_filter_flags(args, shapes, recipe):
    """--subfilter and --conv2_filter must name filters the network has."""
    w2 = shapes.get('conv2/W_conv2')
    if args.conv2_filter is not None and w2 is None:
        raise VisualizeError('--conv2_filter: the %s network has no conv2 layer' % recipe)
    if w2 is not None:
        for flag, value, limit, what in (
                ('--subfilter', args.subfilter, w2[2], 'each conv2 filter has %d sub-filters'),
                ('--conv2_filter', args.conv2_filter, w2[3], 'conv2 has %d filters')):
            if value is not None and value >= limit:
                raise VisualizeError('%s %d: %s, 0-%d' % (flag, value, what % limit, limit - 1))


def look(args):
    """Find and read the checkpoint, check the flags against it, run it on the test set."""
    checkpoint = find_checkpoint(args.checkpoint_dir, args.checkpoint)
    shapes, step = read_checkpoint(checkpoint)
    config, record = checkpoint_config(checkpoint, shapes)
    check_filter_flags(args, shapes, config.recipe)
    mnist = mnist_data.read_data_sets(args.data_dir, one_hot=True)
    images, labels = mnist.test.images, np.argmax(mnist.test.labels, axis=1)
    out = restore_and_evaluate(checkpoint, config, images, args.samples, args.conv2_filter)
    seen = Seen(checkpoint, step, config, record, images, labels, out,
                misclassified(labels, out['predictions']))
    print('visualize_filters: %s (recipe %s, step %d): test accuracy %.4f, %d misclassified'
          % (checkpoint, config.recipe, step, seen.accuracy, len(seen.wrong)), file=sys.stderr)
    return seen


def layer_figures(args, seen):
    """conv1.png, conv2.png and conv2_filter<K>.png, as (file name, figure) pairs."""
    out, n = seen.out, args.samples
    images, labels, predictions = seen.images[:n], seen.labels[:n], out['predictions'][:n]
    rows = ('Each row: a test digit, label \u2192 prediction (red: wrong), then its maps. '
            'Dark = large; each image on its own scale.')
    figures = [(CONV1_NAME, plot_layer(
        out['W_conv1'][:, :, 0, :], images, out['h_pool1'], labels, predictions, rows=1,
        filter_label='W_conv1',
        title='conv1: %d filters (5\u00d75) and the pooled maps h_pool1 (14\u00d714) of '
              '%d test digits' % (out['W_conv1'].shape[-1], n),
        subtitle='%s.\n%s' % (seen.about, rows)))]
    if 'W_conv2' in out:
        figures.append((CONV2_NAME, plot_layer(
            out['W_conv2'][:, :, args.subfilter, :], images, out['h_pool2'], labels, predictions,
            rows=2, filter_label='W_conv2',
            map_interpolation='bilinear' if args.upsample else 'nearest',
            title='conv2: sub-filter %d of each of its %d filters, and the pooled maps '
                  'h_pool2 (7\u00d77) of %d test digits'
                  % (args.subfilter, out['W_conv2'].shape[-1], n),
            subtitle='%s. %s\n%s' % (seen.about, rows, POOLED2_CAPTION
                                     + (SMOOTHED_CAPTION if args.upsample else '')))))
    if args.conv2_filter is not None:
        k = args.conv2_filter
        figures.append(('conv2_filter%d.png' % k, plot_conv2_filter(
            k, out['W_conv1'][:, :, 0, :], out['W_conv2'][:, :, :, k], seen.images[0],
            seen.labels[0], out['predictions'][0], out['h_pool1'][0], out['contributions'],
            out['h_conv2_k'],
            title='conv2 filter %d: its %d sub-filters, one per conv1 map, and how they '
                  'add up for one digit' % (k, out['W_conv2'].shape[2]),
            subtitle='%s.\nRows: the conv1 filters; the sub-filters of %d (grey = 0); a '
                     'digit\'s pooled conv1 maps; each sub-filter run over its map (grey = 0). '
                     'Their sum + bias, through the ReLU, is conv2 map %d.' % (seen.about, k, k))))
    return figures


def misclassified_figure(args, seen):
    """misclassified.png, as a (file name, figure) pair."""
    wrong, total = seen.wrong, len(seen.labels)
    shown = wrong[:args.misclassified]
    return MISCLASSIFIED_NAME, plot_misclassified(
        seen.images, seen.labels, seen.out['predictions'], shown, total,
        title='Misclassified test digits: %d of %d%s' % (
            len(wrong), total,
            ', the first %d shown' % len(shown) if len(shown) < len(wrong) else ''),
        subtitle='%s.\nCaptions: label \u2192 prediction (red), then #index in the test '
                 'set (grey).' % seen.about)


def curve_figure(args, seen):
    """learning_curve.png as a (file name, figure) pair, or None with a line saying why."""
    config = seen.config
    log_dir = args.log_dir or (config.log_dir if seen.record else None)
    curve = learning_curve(seen.record, log_dir)
    if curve is None:
        print('visualize_filters: no learning curve: no run.json history beside %s and no '
              'event files in %s' % (seen.checkpoint, log_dir or '(no --log_dir given)'),
              file=sys.stderr)
        return None
    if curve['final'] is None:
        curve['final'] = (seen.step, seen.accuracy)
    if curve['test_digits'] is None:
        curve['test_digits'] = config.test_summary_size
    return CURVE_NAME, plot_learning_curve(
        curve, title='Learning curve: how the error falls as recipe %s trains (%s)'
                     % (config.recipe, os.path.basename(seen.checkpoint)))


def misclassified_json(seen, shown):
    """misclassified.json: which test digits the figure shows, by index."""
    predictions = seen.out['predictions']
    return {'checkpoint': seen.checkpoint, 'recipe': seen.config.recipe, 'step': seen.step,
            'test_images': len(seen.labels), 'misclassified': len(seen.wrong),
            'shown': [{'index': int(i), 'label': int(seen.labels[i]),
                       'prediction': int(predictions[i])} for i in shown]}


def write_figures(args, figures, extra):
    """Save the figures and the ``extra`` {file name: JSON-able} into --output_dir."""
    import matplotlib.pyplot as plt
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        for filename, fig in figures:
            path = os.path.join(args.output_dir, filename)
            fig.savefig(path, dpi=DPI)
            print('wrote %s' % path, flush=True)
            if not args.show:
                plt.close(fig)
        for filename, content in extra.items():
            path = os.path.join(args.output_dir, filename)
            with open(path, 'w') as f:
                f.write(json.dumps(content, indent=1) + '\n')
            print('wrote %s' % path)
    except OSError as e:
        raise VisualizeError('cannot write into %s: %s' % (args.output_dir, e)) from None


def visualize(args):
    """Restore, evaluate, draw; returns the exit code."""
    seen = look(args)
    figures = layer_figures(args, seen)
    extra = {}
    if args.misclassified:
        figures.append(misclassified_figure(args, seen))
        extra['misclassified.json'] = misclassified_json(seen, seen.wrong[:args.misclassified])
    curve = curve_figure(args, seen)
    figures += [curve] if curve else []
    write_figures(args, figures, extra)
    if args.show:
        import matplotlib.pyplot as plt
        plt.show()
    return 0


if __name__ == '__main__':
    sys.exit(main())
