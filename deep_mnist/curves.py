"""learning_curve.png: the error rate and the loss over the training steps, up to the
checkpoint a figure shows, from run.json's step lines and the TensorBoard event files.

Honest at any run length: a moving average only where its window holds enough points,
a legend entry only for what was drawn, every marker inside its panel, and no point
past the checkpoint (a figure made while the run goes on stops where its filters do).
"""

import numpy as np

from deep_mnist import events
from deep_mnist.figures import GREY, MARGIN, WRONG, draw_header, header_height, new_figure, wrap

CURVE_SIZE = (800, 620)     # pixels
PANEL_TOP_GAP = 14          # between the header and the error panel
PANEL_GAP = 20              # between the two panels
LOSS_PANEL_H = 160
BOTTOM_H = 50               # below the loss panel: its tick labels and the x label
PANEL_LEFT = 72             # where the panels start; moved right if their labels need it
PANEL_RIGHT = 20            # from the right edge
TEST_COLOR = '#1f5fa8'
LIGHT = '0.7'               # one-batch training points
LEGEND_SIZE = 8.5
NOTE_SIZE = 9
POINT_SIZE = 4              # markers of one-batch points and of their triangles
TEST_POINT_SIZE = 3.5
TEST_LINE_W = 1.8
AVERAGE_LINE_W = 1.5
STAR_SIZE = 13              # the final test error

MIN_AVERAGED = 5            # points a moving average must hold to be drawn
AVERAGE_PARTS = 10          # its window: about 1/10 of the points, MIN_AVERAGED at least
ERROR_FLOOR = 0.005         # the error axis reaches down to 0.5 % at least ...
FLOOR_BELOW_TEST = 0.7      # ... and below the smallest test error by this factor
FLOOR_ROOM = 1.3            # the axis ends this factor below the floor (and above 100 %),
                            # so the triangles on the floor (and the points at the top)
                            # show whole


def _upto(points, step):
    return sorted((s, v) for s, v in points if step is None or s <= step)


def learning_curve(record, log_dir, step=None, accuracy=None, config=None):
    """The learning curve up to ``step`` (the checkpoint shown): 'train', 'test',
    'train_loss', 'test_loss': [(step, value)]; 'final': (step, accuracy on all test
    digits) or None; 'batch' and 'test_digits' (the images behind a point, from
    ``config`` when given) and 'source'. Training accuracy from run.json's history
    (every --log_every steps), else from the event files under log_dir, as is all the
    rest. None when there is no point."""
    train, test = events.read_scalars(log_dir, 'train'), events.read_scalars(log_dir, 'test')
    history = [tuple(h) for h in record.get('history') or []]
    curve = {'train': _upto(history or train['accuracy'].items(), step),
             'test': _upto(test['accuracy'].items(), step),
             'train_loss': _upto(train['cross_entropy'].items(), step),
             'test_loss': _upto(test['cross_entropy'].items(), step)}
    if not any(curve.values()):
        return None
    from_events = not history or any(curve[k] for k in ('test', 'train_loss', 'test_loss'))
    sources = (['run.json'] * bool(history and curve['train'])
               + ['TensorBoard events in %s' % log_dir] * from_events)
    curve.update(final=(step, accuracy) if accuracy is not None else None,
                 batch=config and config.batch_size,
                 test_digits=config and config.test_summary_size,
                 source=' and '.join(sources))
    return curve


def moving_average(values, half_width):
    """(centred mean of each value and up to ``half_width`` neighbours a side, the
    number of values in each mean). The window narrows towards both ends, so the
    mean does not lag; where it holds few values, it says little."""
    values = np.asarray(values, dtype=float)
    i = np.arange(len(values))
    h = np.minimum(np.minimum(i, len(values) - 1 - i), half_width)
    total = np.concatenate([[0.0], np.cumsum(values)])
    return (total[i + h + 1] - total[i - h]) / (2 * h + 1), 2 * h + 1


def _series(ax, steps, values, style, label, **kwargs):
    """Plot points (joined by a line when ``style`` says so and there are two); nothing,
    and so no legend entry, when there are none."""
    if not len(steps):
        return
    if len(steps) < 2:
        style = style.replace('-', '')
    ax.plot(steps, values, style, label=label, **kwargs)


def _noisy_series(ax, steps, values, floor, labels):
    """One-batch values as light points, those below ``floor`` (a batch without an
    error, which a log axis cannot show) as triangles on it; their moving average
    where its window holds at least MIN_AVERAGED points."""
    low = values < floor
    _series(ax, steps[~low], values[~low], '.', labels[0], color=LIGHT, ms=POINT_SIZE)
    _series(ax, steps[low], np.full(low.sum(), floor), 'v', labels[1], color=LIGHT,
            ms=POINT_SIZE)
    half = max(MIN_AVERAGED // 2, len(values) // AVERAGE_PARTS // 2)
    smooth, counts = moving_average(values, half)
    enough = counts >= MIN_AVERAGED
    _series(ax, steps[enough], np.maximum(smooth[enough], floor), '-',
            '%s (mean of %d batches)' % (labels[2], 2 * half + 1), color='black',
            lw=AVERAGE_LINE_W)


def _log_axis(ax, ylabel, tick_text):
    """A log y axis ticked at 1, 2 and 5 of each decade, labelled ``tick_text(v)``."""
    from matplotlib import ticker
    ax.set_yscale('log')
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: tick_text(v)))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.set_ylabel(ylabel)
    ax.grid(True, color='0.9')


def _legend(ax):
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc='upper right', fontsize=LEGEND_SIZE, frameon=False)


def _plot_error(ax, curve):
    """The error rate panel: training batches, test digits, the final test error."""
    final = [curve['final'][1]] if curve['final'] else []
    tested = [1 - a for _, a in curve['test']] + [1 - a for a in final]
    # Down to 0.5 %, or lower when the test error gets there: the last percent is
    # what separates the recipes, and a 0-1 axis squashed it flat (issue 13).
    floor = min([ERROR_FLOOR] + [FLOOR_BELOW_TEST * e for e in tested if e > 0])
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
        _series(ax, steps, 1 - acc, 'o-', 'test error%s' % digits, color=TEST_COLOR,
                lw=TEST_LINE_W, ms=TEST_POINT_SIZE)
    if curve['final']:
        step, acc = curve['final']
        ax.plot([step], [max(1 - acc, floor)], '*', color=WRONG, ms=STAR_SIZE, zorder=3,
                label='final test error %.2f %% = accuracy %.2f %% (all test digits)'
                      % (100 * (1 - acc), 100 * acc))
    ax.set_ylim(floor / FLOOR_ROOM, FLOOR_ROOM)
    _log_axis(ax, 'error rate (1 \u2212 accuracy)', lambda v: '%g %%' % (100 * v))
    _legend(ax)


def _plot_loss(ax, curve):
    """The loss panel: cross entropy of the training batches and of the test digits."""
    if curve['train_loss']:
        steps, loss = np.array(curve['train_loss'], dtype=float).T
        _noisy_series(ax, steps, loss, 0, ('training: one batch', None,
                                           'training: moving average'))
    if curve['test_loss']:
        steps, loss = np.array(curve['test_loss'], dtype=float).T
        _series(ax, steps, loss, 'o-', 'test', color=TEST_COLOR, lw=TEST_LINE_W,
                ms=TEST_POINT_SIZE)
    if not curve['train_loss'] and not curve['test_loss']:
        ax.text(0.5, 0.5, 'no loss recorded: run.json keeps the training accuracy only, '
                'and there are no TensorBoard event files', transform=ax.transAxes,
                ha='center', va='center', fontsize=NOTE_SIZE, color=GREY)
        ax.set_yticks([])
        return
    _log_axis(ax, 'loss (cross entropy)', lambda v: '%g' % v)
    _legend(ax)


def _fit_across(fig, axes):
    """Move the panels' common left and right edges so that their tick labels and
    axis labels keep MARGIN pixels inside the figure."""
    renderer = fig.canvas.get_renderer()
    width = fig.bbox.width
    boxes = [ax.get_tightbbox(renderer) for ax in axes]
    left = max(0.0, max(MARGIN - b.x0 for b in boxes))
    right = max(0.0, max(b.x1 - (width - MARGIN) for b in boxes))
    for ax in axes:
        box = ax.get_position()
        ax.set_position([box.x0 + left / width, box.y0,
                         box.width - (left + right) / width, box.height])


def plot_learning_curve(curve, title=''):
    """Error rate (log scale) and loss over the steps, for the training batches and the
    test digits, with the final test error; ``curve`` as learning_curve() makes it."""
    width, height = CURVE_SIZE
    subtitle = wrap('Grey: one training batch per logged step; black: their moving average; '
                    'blue: test digits, never trained on; \u2605: final test error.\n'
                    'Error rate = 1 \u2212 accuracy, on a log scale so the last percent shows. '
                    'From %s.' % curve['source'], width - 2 * MARGIN)
    fig = new_figure(width, height)
    # Pixel boxes from the top left, turned into figure fractions.
    top = header_height(len(subtitle)) + PANEL_TOP_GAP
    loss_top = height - BOTTOM_H - LOSS_PANEL_H
    panel_w = width - PANEL_LEFT - PANEL_RIGHT

    def box(y, h):
        return [PANEL_LEFT / width, 1 - (y + h) / height, panel_w / width, h / height]
    error_ax = fig.add_axes(box(top, loss_top - PANEL_GAP - top))
    loss_ax = fig.add_axes(box(loss_top, LOSS_PANEL_H), sharex=error_ax)
    _plot_error(error_ax, curve)
    _plot_loss(loss_ax, curve)
    error_ax.tick_params(labelbottom=False)
    loss_ax.set_xlabel('training step')
    draw_header(fig, title, subtitle)
    _fit_across(fig, [error_ax, loss_ax])
    fig.align_ylabels([error_ax, loss_ax])
    return fig



# --- filters_over_training.png: conv1 and one digit's probabilities at each snapshot ------

TILE, TILE_GAP = 22, 3      # one 5x5 filter and the gap after it, pixels
STEP_W, BARS_W, ROW_H = 80, 170, 44
ACCENT = '#1a5fb4'


def _filter_strip(filters):
    """conv1's filters [5, 5, K] side by side on one symmetric scale, NaN between."""
    k = filters.shape[-1]
    strip = np.full((5, 6 * k - 1), np.nan)
    for i in range(k):
        strip[:, 6 * i:6 * i + 5] = filters[:, :, i]
    return strip / (np.abs(filters).max() or 1)


def plot_over_training(frames, label, title, subtitle, first=None):
    """A row per (step, conv1 filters [5, 5, K], ten probabilities of a digit whose
    label is ``label``): how far the filters moved from ``first`` (default: the first
    row's; relative norm), the filters, each row on its own scale (grey 0), and the bars."""
    import matplotlib
    k = frames[0][1].shape[-1]
    width = MARGIN * 2 + STEP_W + k * (TILE + TILE_GAP) + 16 + BARS_W
    lines = wrap(subtitle, width - 2 * MARGIN)
    top = header_height(len(lines)) + 6
    height = top + ROW_H * len(frames) + 22
    fig = new_figure(width, height)
    cmap = matplotlib.colormaps['gray_r'].with_extremes(bad='white')
    for n, (step, filters, probabilities) in enumerate(frames):
        y = top + n * ROW_H
        start = frames[0][1] if first is None else first
        moved = np.linalg.norm(filters - start) / (np.linalg.norm(start) or 1)
        fig.text(MARGIN / width, 1 - (y + TILE / 2) / height, 'step %d\n%+.0f %%' % (
            step, 100 * moved) if n or first is not None else 'step %d' % step, va='center',
            fontsize=9)
        ax = fig.add_axes([(MARGIN + STEP_W) / width, 1 - (y + TILE) / height,
                           (k * (TILE + TILE_GAP) - TILE_GAP) / width, TILE / height])
        ax.imshow(_filter_strip(filters), cmap=cmap, vmin=-1, vmax=1, aspect='auto',
                  interpolation='nearest')
        ax.axis('off')
        bars = fig.add_axes([(width - MARGIN - BARS_W) / width, 1 - (y + ROW_H - 14) / height,
                             BARS_W / width, (ROW_H - 16) / height])
        bars.bar(range(10), probabilities, color=['0.6'] * label + [ACCENT] + ['0.6'] * (9 - label))
        bars.set_ylim(0, 1)
        bars.set_yticks([])
        bars.set_xticks(range(10))
        bars.tick_params(labelsize=7, length=0, pad=1)
        bars.text(1.0, 1.0, '%.0f %%' % (100 * probabilities[label]), transform=bars.transAxes,
                  ha='right', va='top', fontsize=7.5, color=ACCENT)
    draw_header(fig, title, lines)
    return fig
