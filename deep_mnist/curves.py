"""learning_curve.png (run.json and event files, up to the checkpoint) and
filters_over_training.png. Honest at any run length: a moving average only where its window
holds enough points, a legend entry only for what was drawn, no marker outside its panel."""

import numpy as np

from deep_mnist import events
from deep_mnist.figures import GREY, MARGIN, WRONG, draw_header, header_height, new_figure, wrap

CURVE_SIZE = (800, 620)         # pixels
LOSS_PANEL_H, PANEL_LEFT = 160, 72  # PANEL_LEFT: moved right if the labels need it
LIGHT, POINT_SIZE = '0.7', 4    # one-batch training points
MIN_AVERAGED = 5                # points a moving average must hold to be drawn


def _upto(points, step):
    return sorted((s, v) for s, v in points if step is None or s <= step)


def learning_curve(record, log_dir, step=None, accuracy=None, config=None):
    """'train', 'test', 'train_loss', 'test_loss' up to ``step`` (run.json's history, else the
    event files), 'final', 'batch', 'test_digits', 'source'; None when there is no point."""
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
    """(centred means, ``half_width`` a side, narrowing at the ends: no lag; their counts)."""
    i = np.arange(len(values))
    h = np.minimum(np.minimum(i, len(values) - 1 - i), half_width)
    total = np.concatenate([[0.0], np.cumsum(values, dtype=float)])
    return (total[i + h + 1] - total[i - h]) / (2 * h + 1), 2 * h + 1


def _series(ax, steps, values, style, label, **kwargs):
    """Points (joined when ``style`` says so and there are two); none: no legend entry."""
    if len(steps):
        ax.plot(steps, values, style if len(steps) > 1 else style.replace('-', ''), label=label,
                **kwargs)


def _plot_panel(ax, train, test, floor, labels, ylabel, tick, value=lambda v: v, stars=()):
    """Training batches as light points, those below ``floor`` (no error: a log axis cannot
    show 0) as triangles on it, their moving average where it holds MIN_AVERAGED points;
    test points and (step, y, label) ``stars``; on a log axis."""
    from matplotlib import ticker
    if train:
        steps, values = np.array(train, dtype=float).T
        values = value(values)
        low = values < floor
        _series(ax, steps[~low], values[~low], '.', labels[0], color=LIGHT, ms=POINT_SIZE)
        _series(ax, steps[low], np.full(low.sum(), floor), 'v', labels[1], color=LIGHT,
                ms=POINT_SIZE)
        half = max(MIN_AVERAGED // 2, len(values) // 20)     # about 1/10 of the points
        smooth, counts = moving_average(values, half)
        enough = counts >= MIN_AVERAGED
        _series(ax, steps[enough], np.maximum(smooth[enough], floor), '-',
                '%s (mean of %d batches)' % (labels[2], 2 * half + 1), color='black', lw=1.5)
    if test:
        steps, values = np.array(test, dtype=float).T
        _series(ax, steps, value(values), 'o-', labels[3], color='#1f5fa8', lw=1.8, ms=3.5)
    for step, y, label in stars:
        ax.plot([step], [y], '*', color=WRONG, ms=13, zorder=3, label=label)
    ax.set_yscale('log')
    ax.yaxis.set_major_locator(ticker.LogLocator(subs=(1, 2, 5)))
    ax.yaxis.set_major_formatter(lambda v, _: tick(v))
    ax.yaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(True, color='0.9')
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc='upper right', fontsize=8.5, frameon=False)


def _fit_across(fig, axes):
    """Move the panels' edges so that their labels keep MARGIN pixels inside the figure."""
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
    """Error rate and loss over the steps of a learning_curve(), on log scales."""
    width, height = CURVE_SIZE
    subtitle = wrap('Grey: one training batch per logged step; black: their moving average; '
                    'blue: test digits, never trained on; \u2605: final test error.\n'
                    'Error rate = 1 \u2212 accuracy, on a log scale so the last percent shows. '
                    'From %s.' % curve['source'], width - 2 * MARGIN)
    fig = new_figure(width, height)
    # Pixel boxes from the top left, turned into figure fractions.
    top = header_height(len(subtitle)) + 14
    loss_top = height - 50 - LOSS_PANEL_H      # 50: its tick labels and the x label
    panel_w = width - PANEL_LEFT - 20

    def box(y, h):
        return [PANEL_LEFT / width, 1 - (y + h) / height, panel_w / width, h / height]
    error_ax = fig.add_axes(box(top, loss_top - 20 - top))
    loss_ax = fig.add_axes(box(loss_top, LOSS_PANEL_H), sharex=error_ax)
    final = [curve['final'][1]] if curve['final'] else []
    tested = [1 - a for _, a in curve['test']] + [1 - a for a in final]
    # Down to 0.5 %, or 0.7 x the least test error: the last percent is what
    # separates the recipes, and a 0-1 axis squashed it flat (issue 13).
    floor = min([0.005] + [0.7 * e for e in tested if e > 0])
    batch, n = curve.get('batch'), curve.get('test_digits')
    stars = [(curve['final'][0], max(1 - a, floor), 'final test error %.2f %% = accuracy '
              '%.2f %% (all test digits)' % (100 * (1 - a), 100 * a)) for a in final]
    _plot_panel(error_ax, curve['train'], curve['test'], floor, (
        'training: one batch' + (' of %d' % batch if batch else ''),
        'training: a batch without an error', 'training: moving average',
        'test error' + (' (first %d test digits)' % n if n else '')),
        'error rate (1 \u2212 accuracy)', lambda v: '%g %%' % (100 * v), lambda a: 1 - a, stars)
    error_ax.set_ylim(floor / 1.3, 1.3)     # room beyond both, so that markers show whole
    if curve['train_loss'] or curve['test_loss']:
        _plot_panel(loss_ax, curve['train_loss'], curve['test_loss'], 0, (
            'training: one batch', None, 'training: moving average', 'test'),
            'loss (cross entropy)', lambda v: '%g' % v)
    else:
        loss_ax.text(0.5, 0.5, 'no loss recorded: run.json keeps the training accuracy only, '
                     'and there are no TensorBoard event files', transform=loss_ax.transAxes,
                     ha='center', va='center', fontsize=9, color=GREY)
        loss_ax.set_yticks([])
    error_ax.tick_params(labelbottom=False)
    loss_ax.set_xlabel('training step')
    draw_header(fig, title, subtitle)
    _fit_across(fig, [error_ax, loss_ax])
    fig.align_ylabels([error_ax, loss_ax])
    return fig


TILE, TILE_GAP = 22, 3      # one 5x5 filter and the gap after it, pixels
STEP_W, BARS_W, ROW_H = 80, 170, 44
ACCENT = '#1a5fb4'


def plot_over_training(frames, label, title, subtitle, first=None):
    """A row per (step, conv1 filters [5, 5, K], a ``label`` digit's ten probabilities): how
    far the filters moved from ``first`` (default: row 0's), the filters, and the bars."""
    import matplotlib
    k = frames[0][1].shape[-1]
    width = MARGIN * 2 + STEP_W + k * (TILE + TILE_GAP) + 16 + BARS_W
    lines = wrap(subtitle, width - 2 * MARGIN)
    top = header_height(len(lines)) + 6
    height = top + ROW_H * len(frames) + 22
    fig = new_figure(width, height)
    cmap = matplotlib.colormaps['gray_r'].with_extremes(bad='white')
    start = frames[0][1] if first is None else first
    for n, (step, filters, probabilities) in enumerate(frames):
        y = top + n * ROW_H
        moved = np.linalg.norm(filters - start) / (np.linalg.norm(start) or 1)
        fig.text(MARGIN / width, 1 - (y + TILE / 2) / height, 'step %d\n%+.0f %%' % (
            step, 100 * moved) if n or first is not None else 'step %d' % step, va='center',
            fontsize=9)
        ax = fig.add_axes([(MARGIN + STEP_W) / width, 1 - (y + TILE) / height,
                           (k * (TILE + TILE_GAP) - TILE_GAP) / width, TILE / height])
        # The filters side by side on one symmetric scale, a NaN (white) column between.
        strip = np.pad(filters, ((0, 0), (0, 1), (0, 0)), constant_values=np.nan)
        strip = strip.transpose(0, 2, 1).reshape(len(filters), -1)[:, :-1]
        ax.imshow(strip / (np.abs(filters).max() or 1), cmap=cmap, vmin=-1, vmax=1, aspect='auto',
                  interpolation='nearest')
        ax.axis('off')
        bars = fig.add_axes([(width - MARGIN - BARS_W) / width, 1 - (y + ROW_H - 14) / height,
                             BARS_W / width, (ROW_H - 16) / height], ylim=(0, 1), yticks=[],
                            xticks=range(10))
        bars.bar(range(10), probabilities, color=['0.6'] * label + [ACCENT] + ['0.6'] * (9 - label))
        bars.tick_params(labelsize=7, length=0, pad=1)
        bars.text(1.0, 1.0, '%.0f %%' % (100 * probabilities[label]), transform=bars.transAxes,
                  ha='right', va='top', fontsize=7.5, color=ACCENT)
    draw_header(fig, title, lines)
    return fig
