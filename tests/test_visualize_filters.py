"""visualize_filters.py on checkpoints of short real training runs.

conftest's expert run (300 steps, checkpoints at 100, 200 and 300) and fast run, and a
single_conv run (100 steps) trained once for the module; the visualiser runs on them
through its command line, main(argv), called in this process (conftest.call_main), and
through its parts where a test looks at the matplotlib Figures it draws
(deep_mnist/figures.py, deep_mnist/curves.py). A new process only where the claim is
about one: a bad flag's exit status, and a training run still saving beside it.
"""

import json
import os
import shutil
import signal
import subprocess
import types

import matplotlib
import numpy as np
import pytest

matplotlib.use('Agg')
import matplotlib.image  # noqa: E402  (after the backend is chosen)
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402

import deep_cnn  # noqa: E402  (imports TensorFlow only when asked)
import mnist_data  # noqa: E402
import visualize_filters as vf  # noqa: E402
from conftest import DATA_DIR, EXPERT_STEPS, call_main, run_script, start_script_until  # noqa: E402
from deep_mnist import checkpoints, curves, events, figures, tfstart  # noqa: E402

SAMPLES = 3
CONV2_FILTER = 7
TIMEOUT = 600


def train(base, recipe, steps, *flags):
    """A short seeded deep_cnn.py run into base/ckpt and base/logs; its run.json."""
    ran = call_main(deep_cnn.main, '--recipe', recipe, '--steps', steps, '--seed', 1,
                    '--log_every', 20, '--summary_every', 20, '--fresh',
                    '--data_dir', DATA_DIR, '--checkpoint_dir', base / 'ckpt',
                    '--log_dir', base / 'logs', *flags)
    assert ran.returncode == 0, ran.stderr
    with open(base / 'ckpt' / 'run.json') as f:
        return json.load(f)


def visualize(*args, cwd=None):
    """visualize_filters.py with these flags (and the test data), its main() called here."""
    return call_main(vf.main, '--data_dir', DATA_DIR, *args, cwd=cwd)


def drawn(base, checkpoint=None, flags=(), out=None):
    """The visualiser's figures of the run in base (into out, default base/figures): of
    its checkpoint directory, or of the checkpoint named ``checkpoint`` there."""
    out = out or base / 'figures'
    where = (['--checkpoint', base / 'ckpt' / checkpoint] if checkpoint
             else ['--checkpoint_dir', base / 'ckpt'])
    proc = visualize(*where, '--output_dir', out, '--samples', SAMPLES, *flags)
    assert proc.returncode == 0, proc.stderr
    with open(base / 'ckpt' / 'run.json') as f:
        record = json.load(f)
    return types.SimpleNamespace(base=base, ckpt=base / 'ckpt', out=out, proc=proc,
                                 record=record)


@pytest.fixture(scope='module')
def expert(expert_run, tmp_path_factory):
    """conftest's expert run, drawn; its figures in a directory of this module's."""
    out = tmp_path_factory.mktemp('expert_figures') / 'figures'
    return drawn(expert_run[0], flags=('--conv2_filter', CONV2_FILTER), out=out)


@pytest.fixture(scope='module')
def single(tmp_path_factory):
    base = tmp_path_factory.mktemp('single_conv')
    train(base, 'single_conv', 100)
    return drawn(base, 'model.ckpt-100')


def in_process(*argv):
    """The visualiser's flags, and what it saw of the checkpoint, without a subprocess."""
    args = vf.parse_args(['--data_dir', DATA_DIR, *map(str, argv)])
    return args, vf.look(args)


@pytest.fixture(scope='module')
def expert_drawn(expert):
    """The Figures of the expert checkpoint, drawn in-process with the flags the command
    line run had: {file name: Figure}, and the Seen."""
    args, seen = in_process('--checkpoint_dir', expert.ckpt, '--samples', SAMPLES,
                            '--conv2_filter', CONV2_FILTER, '--output_dir', expert.out)
    named, _ = vf.draw(args, seen)
    yield dict(named), seen
    for _, fig in named:
        plt.close(fig)


def gray(path):
    """The PNG as a 2-D array of gray levels in [0, 1]."""
    image = matplotlib.image.imread(path)
    return image[..., :3].mean(axis=2)


def cell_box(grid, row, col):
    """(left, top, right, bottom) of a cell of a Grid, in pixels from the top left."""
    x, y = grid.x(col), grid.row_y[row]
    return x, y, x + grid.cell, y + grid.cell


def gray_at(grid, row, col):
    """The gray levels laid into a cell of a Grid."""
    x, y, right, bottom = cell_box(grid, row, col)
    return grid.pixels[y:bottom, x:right]


def size(grid):
    return grid.width, grid.height


def assert_figure(path, size):
    """The PNG exists, is ``size`` (width, height) pixels, and is not blank."""
    assert path.exists(), path
    image = gray(path)
    assert (image.shape[1], image.shape[0]) == size
    assert image.std() > 0.05, '%s looks blank' % path
    return image


def assert_cells_drawn(image, grid, rows):
    """Each of these grid rows has content: no row of cells is left blank."""
    for row in rows:
        y = grid.row_y[row]
        strip = image[y:y + grid.cell, grid.x(0):grid.width - figures.MARGIN]
        assert strip.std() > 0.05, 'row %d of the grid is blank' % row


def undrawn_tick_labels(fig):
    """Tick labels matplotlib keeps but does not draw: those outside the view."""
    undrawn = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * (high - low)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - slack <= tick.get_loc() <= high + slack:
                    undrawn |= {id(tick.label1), id(tick.label2)}
    return undrawn


def texts(fig):
    """(text, window extent) of every visible, non-empty text of a drawn figure."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    undrawn = undrawn_tick_labels(fig)
    return [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
            if t.get_visible() and t.get_text().strip() and id(t) not in undrawn]


def says(fig, words):
    """Whether a text of the figure says ``words`` (wrapped lines read as one)."""
    return any(words in ' '.join(text.split()) for text, _ in texts(fig))


def overlaps(a, b):
    """Two window extents share area; touching edges do not count."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def cell_extents(fig):
    """Window extents of the grid's drawn cells (frame included), in display pixels."""
    from matplotlib.transforms import Bbox
    grid = fig.grid_layout
    height = fig.bbox.height
    found = []
    for row in range(len(grid.row_y)):
        for col in range(grid.cols):
            if not np.isnan(gray_at(grid, row, col)).all():
                x0, y0, x1, y1 = cell_box(grid, row, col)
                b = figures.BORDER_W
                found.append(Bbox([[x0 - b, height - y1 - b], [x1 + b, height - y0 + b]]))
    return found


def assert_texts_inside(fig, cells=()):
    """Every text lies within the figure, overlaps no cell and no other text."""
    boxes = texts(fig)
    frame = fig.bbox
    for text, box in boxes:
        assert (box.x0 >= frame.x0 and box.x1 <= frame.x1 and box.y0 >= frame.y0
                and box.y1 <= frame.y1), 'text %r runs off the figure: %s' % (text, box)
        assert not any(overlaps(box, c) for c in cells), 'text %r overlaps a cell' % text
    return boxes


# --- the figures ------------------------------------------------------------------

@pytest.mark.long
def test_expert_figures_have_the_expected_grid(expert, expert_drawn):
    drawn, _ = expert_drawn
    out = expert.out
    conv1, conv2 = drawn['conv1.png'].grid_layout, drawn['conv2.png'].grid_layout
    # 001's layouts: a digit column and 32 filters; filter row(s) plus a row (conv2: two)
    # per digit. Pinned in pixels, so a layout change shows up here (conv2's header has
    # a third line: what a 7x7 map means).
    assert size(conv1) == (1544, 260)
    assert size(conv2) == (1544, 462)
    assert (len(conv1.row_y), len(conv2.row_y)) == (1 + SAMPLES, 2 * (1 + SAMPLES))
    image = assert_figure(out / 'conv1.png', size(conv1))
    assert_cells_drawn(image, conv1, range(1 + SAMPLES))
    image = assert_figure(out / 'conv2.png', size(conv2))
    assert_cells_drawn(image, conv2, range(2 * (1 + SAMPLES)))
    name = 'conv2_filter%d.png' % CONV2_FILTER
    filter_grid = drawn[name].grid_layout
    assert filter_grid.cols == 33 and len(filter_grid.row_y) == 4
    image = assert_figure(out / name, size(filter_grid))
    assert_cells_drawn(image, filter_grid, range(4))
    assert_figure(out / 'learning_curve.png', curves.CURVE_SIZE)
    with open(out / 'misclassified.json') as f:
        shown = len(json.load(f)['shown'])
    grid = drawn['misclassified.png'].grid_layout
    assert len(grid.row_y) == -(-shown // figures.MISCLASSIFIED_COLS)
    assert_figure(out / 'misclassified.png', size(grid))


@pytest.mark.long
def test_every_text_stays_inside_its_figure_and_off_the_cells(expert_drawn):
    drawn, _ = expert_drawn
    for name, fig in drawn.items():
        cells = cell_extents(fig) if hasattr(fig, 'grid_layout') else ()
        assert len(assert_texts_inside(fig, cells)) >= 3, name


@pytest.mark.long
def test_each_grid_is_one_image(expert_drawn):
    """One axes and one image per figure: 1128 axes of small images took most of the time."""
    drawn, _ = expert_drawn
    for name in ('conv1.png', 'conv2.png', 'conv2_filter%d.png' % CONV2_FILTER,
                 'misclassified.png'):
        fig = drawn[name]
        assert len(fig.axes) == 1 and len(fig.axes[0].images) == 1, name
        grid = fig.grid_layout
        assert fig.axes[0].images[0].get_array().shape == (grid.height, grid.width)


def test_the_png_holds_the_composed_cells_pixel_for_pixel(tmp_path):
    r = np.random.RandomState(0)
    fig = figures.plot_layer(r.randn(5, 5, 8), r.rand(2, 784), r.rand(2, 14, 14, 8),
                             [1, 2], [1, 3], subtitle='x')
    fig.savefig(tmp_path / 'layer.png', dpi=figures.DPI)
    grid = fig.grid_layout
    image = gray(tmp_path / 'layer.png')
    assert image.shape == (grid.height, grid.width)
    drawn = ~np.isnan(grid.pixels)
    assert drawn.sum() > 10 * 40 * 40
    # gray_r: a value v is the gray level 1 - v (to the colormap's 256 steps).
    assert np.abs(image[drawn] - (1 - grid.pixels[drawn])).max() < 1 / 100
    plt.close(fig)


@pytest.mark.long
def test_every_written_file_is_announced(expert):
    names = ['conv1.png', 'conv2.png', 'conv2_filter%d.png' % CONV2_FILTER,
             'misclassified.png', 'learning_curve.png', 'misclassified.json']
    assert expert.proc.stdout.splitlines() == [
        'wrote %s' % (expert.out / name) for name in names]
    assert sorted(os.listdir(expert.out)) == sorted(names)


@pytest.mark.long
def test_the_digit_rows_show_the_first_test_digits(expert, expert_drawn):
    """The digit cell of each row is the test image itself, drawn 0..1 in gray_r."""
    images = mnist_data.read_data_sets(DATA_DIR).test.images[:SAMPLES]
    grid = expert_drawn[0]['conv1.png'].grid_layout
    image = gray(expert.out / 'conv1.png')
    for d in range(SAMPLES):
        y, x = grid.row_y[1 + d], grid.x(0)
        cell = image[y:y + grid.cell, x:x + grid.cell]
        digit = images[d].reshape(28, 28)
        # Nearest-neighbour sampling of the 28x28 digit onto the cell's pixels.
        idx = ((np.arange(grid.cell) + 0.5) * 28 / grid.cell).astype(int)
        expected = 1 - digit[np.ix_(idx, idx)]
        assert np.mean(np.abs(cell - expected) < 0.02) > 0.98


@pytest.mark.long
def test_single_conv_gets_its_16_filter_figure(single):
    image = gray(single.out / 'conv1.png')
    grid = figures.layer_grid(16, SAMPLES)
    assert image.shape[1] == grid.width == 86 + 17 * 40 + 16 * 4 + 10
    assert not (single.out / 'conv2.png').exists()
    assert 'recipe single_conv' in single.proc.stderr
    assert_figure(single.out / 'learning_curve.png', curves.CURVE_SIZE)


@pytest.mark.long
def test_the_recipe_is_recognised_without_run_json(single, tmp_path):
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(single.ckpt, ckpt)
    (ckpt / 'run.json').unlink()
    proc = visualize('--checkpoint_dir', ckpt, '--output_dir', tmp_path / 'figures',
                     '--samples', SAMPLES, '--misclassified', 0,
                     '--log_dir', single.base / 'logs')
    assert proc.returncode == 0, proc.stderr
    assert 'recipe single_conv' in proc.stderr
    assert gray(tmp_path / 'figures' / 'conv1.png').shape[1] == figures.layer_grid(16, 1).width
    # No run.json: the learning curve comes from the TensorBoard event files.
    assert_figure(tmp_path / 'figures' / 'learning_curve.png', curves.CURVE_SIZE)
    assert not (tmp_path / 'figures' / 'misclassified.png').exists()


# --- the activation maps: white is zero ---------------------------------------------

def test_white_means_zero_on_the_maps_and_the_caption_says_so():
    filters = np.random.RandomState(0).randn(5, 5, 4)
    maps = np.zeros((1, 14, 14, 4))
    maps[0, :, :, 1] = 0.1                  # a positive background, as a bias gives
    maps[0, 3:6, 3:6, 1] = 2.0
    maps[0, 7, 7, 2] = 5.0
    fig = figures.plot_layer(filters, np.zeros((1, 784)), maps, [3], [3],
                             subtitle=figures.SCALES_CAPTION)
    grid = fig.grid_layout
    assert (gray_at(grid, 1, 1) == 0).all()           # a map that is 0 everywhere: white
    background = gray_at(grid, 1, 2)
    assert background.min() == pytest.approx(0.05)   # 0.1 of 2.0: not white
    assert background.max() == 1
    assert gray_at(grid, 1, 3).max() == 1 and (gray_at(grid, 1, 3) == 0).sum() > 0
    assert says(fig, 'Maps: white = 0')
    plt.close(fig)


@pytest.mark.long
def test_the_layer_figures_say_white_is_zero(expert_drawn):
    drawn, _ = expert_drawn
    for name in ('conv1.png', 'conv2.png'):
        assert says(drawn[name], 'Maps: white = 0'), name


# --- the misclassified digits ---------------------------------------------------

@pytest.mark.long
def test_misclassified_grid_holds_only_misclassified_digits(expert, expert_drawn):
    test = mnist_data.read_data_sets(DATA_DIR).test
    with open(expert.out / 'misclassified.json') as f:
        report = json.load(f)
    # deep_cnn's own evaluation of the same checkpoint counts the same mistakes.
    accuracy = checkpoints.checkpoint_test_accuracy(deep_cnn.deepnn, str(expert.ckpt), DATA_DIR)
    assert report['misclassified'] == round((1 - accuracy) * len(test.labels)) > 0
    assert report['step'] == EXPERT_STEPS
    shown = report['shown']
    assert len(shown) == min(50, report['misclassified'])
    indices = [d['index'] for d in shown]
    assert indices == sorted(set(indices))
    fig = expert_drawn[0]['misclassified.png']
    grid = fig.grid_layout
    captions = {text for text, _ in texts(fig)}
    for n, digit in enumerate(shown):
        i = digit['index']
        assert digit['label'] == test.labels[i] != digit['prediction']
        # The cell shows that test digit, and its caption names label and prediction.
        row, col = divmod(n, figures.MISCLASSIFIED_COLS)
        expected = figures.resample(test.images[i].reshape(28, 28), (grid.cell, grid.cell))
        assert np.allclose(gray_at(grid, row, col), expected)
        assert '%d \u2192 %d' % (digit['label'], digit['prediction']) in captions
        assert '#%d' % i in captions
    if len(shown) % figures.MISCLASSIFIED_COLS:     # nothing drawn after the last digit
        assert np.isnan(gray_at(grid, *divmod(len(shown), figures.MISCLASSIFIED_COLS))).all()


def test_a_model_without_mistakes_gets_a_note(tmp_path):
    images = np.zeros((5, 784), np.float32)
    fig = figures.plot_misclassified(images, [0] * 5, [0] * 5, [], 5, title='none')
    grid = fig.grid_layout
    assert np.isnan(grid.pixels).all()      # no cell drawn
    assert any(t == 'none: the model gets all 5 test digits right' for t, _ in texts(fig))
    fig.savefig(tmp_path / 'm.png', dpi=figures.DPI)
    assert gray(tmp_path / 'm.png').shape == (grid.height, grid.width)
    plt.close(fig)


def test_misclassified_captions_do_not_overlap_the_digits():
    # Four-digit indices and ink up to the cell edges: the widest captions, the
    # fullest digits.
    indices = np.array([7, 659, 1234, 9999] + list(range(8000, 8016)))
    images = np.zeros((10000, 784), np.float32)
    images[indices] = np.random.RandomState(0).rand(len(indices), 784)
    labels = np.arange(10000) % 10
    predictions = (labels + 1) % 10
    fig = figures.plot_misclassified(images, labels, predictions, indices, 10000,
                                     title='Misclassified', subtitle='about\ncaptions')
    cells = cell_extents(fig)
    assert len(cells) == len(indices)
    boxes = assert_texts_inside(fig, cells)
    assert len(boxes) >= 2 * len(indices)   # each digit: label -> prediction, and index
    for n, (text, box) in enumerate(boxes):
        for other, box2 in boxes[n + 1:]:
            assert not overlaps(box, box2), 'texts %r and %r overlap' % (text, other)
    plt.close(fig)


def test_a_long_subtitle_is_wrapped_to_the_figure():
    long = 'checkpoint %s, and more words after it' % ('/very/long/path' * 12)
    fig = figures.plot_misclassified(np.zeros((1, 784)), [1], [2], [0], 1,
                                     title='t', subtitle=long)
    assert len(fig.grid_layout.subtitle) >= 2
    assert_texts_inside(fig, cell_extents(fig))
    plt.close(fig)


# --- the learning curve ---------------------------------------------------------

def read_test_scalars(log_dir):
    """{tag: {step: value}} of the test/ event files, through the one event reader."""
    return events.read_scalars(str(log_dir), 'test')


def assert_summarised(found, steps):
    """The steps with TensorBoard scalars in a run of ``steps`` steps (--summary_every
    20): every 20th, and the last where the trainer writes it."""
    every = list(range(0, steps, 20))
    assert list(found) in (every, every + [steps])


def lines_labelled(fig, word):
    return [line for ax in fig.axes for line in ax.get_lines() if word in line.get_label()]


@pytest.mark.long
def test_learning_curve_from_run_json(expert):
    curve = curves.learning_curve(expert.record, '/nonexistent', EXPERT_STEPS, 0.9)
    assert curve['source'] == 'run.json'
    assert [s for s, _ in curve['train']] == list(range(0, EXPERT_STEPS, 20))
    assert curve['final'] == (EXPERT_STEPS, 0.9)


@pytest.mark.long
def test_learning_curve_from_event_files(single, tmp_path):
    curve = curves.learning_curve({}, str(single.base / 'logs'), 100)
    assert_summarised([s for s, _ in curve['train']], 100)
    assert_summarised([s for s, _ in curve['test']], 100)
    assert all(0 <= a <= 1 for _, a in curve['train'] + curve['test'])
    assert curve['source'].startswith('TensorBoard events in ')
    assert curves.learning_curve({}, str(tmp_path), 100) is None


@pytest.mark.long
def test_learning_curve_shows_test_error_and_loss_on_log_axes(expert):
    scalars = read_test_scalars(expert.base / 'logs')
    steps = sorted(scalars['accuracy'])
    assert_summarised(steps, EXPERT_STEPS)
    assert sorted(scalars['cross_entropy']) == steps
    curve = curves.learning_curve(expert.record, str(expert.base / 'logs'), EXPERT_STEPS, 0.9)
    fig = curves.plot_learning_curve(curve, title='t')
    for tag, expected in (('accuracy', [1 - scalars['accuracy'][s] for s in steps]),
                          ('cross_entropy', [scalars['cross_entropy'][s] for s in steps])):
        found = [line for line in lines_labelled(fig, 'test')
                 if len(line.get_ydata()) == len(steps)
                 and np.allclose(line.get_ydata(), expected, rtol=0, atol=1e-9)]
        assert len(found) == 1, 'no test line for %s' % tag
        assert list(found[0].get_xdata()) == steps
        assert found[0].axes.get_yscale() == 'log'
    # Fifteen step lines in run.json: the training average spans the steps where its
    # window holds five of them.
    logged = [s for s, _ in expert.record['history']]
    assert logged == list(range(0, EXPERT_STEPS, 20))
    averages = lines_labelled(fig, 'moving average')
    assert list(averages[0].get_xdata()) == logged[2:-2]
    plt.close(fig)


@pytest.mark.long
def test_a_figure_of_an_older_checkpoint_stops_at_its_step(expert, tmp_path):
    """As while a run still trains: run.json and the event files go past the checkpoint."""
    args, seen = in_process('--checkpoint', expert.ckpt / 'model.ckpt-100',
                            '--output_dir', tmp_path, '--samples', 1)
    assert seen.step == 100 and seen.record['steps'] == EXPERT_STEPS
    _, fig = vf.curve_figure(args, seen)
    drawn = [line for ax in fig.axes for line in ax.get_lines()]
    assert len(drawn) >= 4
    assert max(max(line.get_xdata()) for line in drawn) == 100
    star = lines_labelled(fig, 'final test error')[0]
    assert list(star.get_xdata()) == [100]
    assert star.get_ydata()[0] == pytest.approx(1 - seen.accuracy)
    plt.close(fig)


def synthetic_curve(train, test=(), train_loss=(), test_loss=(), final=None):
    return {'train': list(train), 'test': list(test), 'train_loss': list(train_loss),
            'test_loss': list(test_loss), 'final': final, 'batch': 50, 'test_digits': 1000,
            'source': 'run.json'}


def test_moving_average_is_centred_and_counts_its_points():
    means, counts = curves.moving_average([0, 0, 3, 0, 0], 1)
    assert list(means) == [0, 1, 1, 1, 0] and list(counts) == [1, 3, 3, 3, 1]
    # The window narrows symmetrically at the ends: each end point is its own mean.
    means, _ = curves.moving_average([4, 0, 0, 0, 8], 5)
    assert np.allclose(means, [4, 4 / 3, 2.4, 8 / 3, 8])


def test_a_short_run_gets_its_points_without_a_moving_average():
    """Three logged steps (a short fast run): an average of them would put step 500's
    error near step 0's; the points alone."""
    curve = synthetic_curve([(0, 0.1), (500, 0.984), (1000, 0.99)],
                            train_loss=[(0, 2.3), (500, 0.1), (1000, 0.08)],
                            final=(1000, 0.989))
    fig = curves.plot_learning_curve(curve, title='t')
    assert not lines_labelled(fig, 'moving average')
    points = lines_labelled(fig, 'one batch')
    assert len(points) == 2 and all(len(p.get_xdata()) == 3 for p in points)
    plt.close(fig)
    # With enough points, the average is drawn only where its window holds five.
    steps = np.arange(0, 300, 20)
    curve = synthetic_curve([(s, 0.9) for s in steps])
    fig = curves.plot_learning_curve(curve, title='t')
    average, = lines_labelled(fig, 'moving average')
    assert list(average.get_xdata()) == list(steps[2:-2])
    plt.close(fig)


def legend_entries(fig):
    """(label, the plotted line of that label) of every legend entry."""
    found = []
    for ax in fig.axes:
        legend = ax.get_legend()
        for text in legend.get_texts() if legend else ():
            line, = [ln for ln in ax.get_lines() if ln.get_label() == text.get_text()]
            found.append((text.get_text(), line))
    return found


def test_no_legend_entry_without_a_line():
    """Two logged steps and one test point: the entries name only what was drawn, and a
    single point is drawn as a marker, not as a line of one point."""
    curve = synthetic_curve([(0, 0.1), (500, 0.98)], test=[(500, 0.97)],
                            train_loss=[(0, 2.3), (500, 0.1)], test_loss=[(500, 0.12)],
                            final=(500, 0.975))
    fig = curves.plot_learning_curve(curve, title='t')
    entries = legend_entries(fig)
    assert {label.split(':')[0].split(' ')[0] for label, _ in entries} == {
        'training', 'test', 'final'}
    for label, line in entries:
        assert len(line.get_xdata()) >= 1, label
        if len(line.get_xdata()) == 1:
            assert line.get_linestyle() == 'None', label
    assert not any('average' in label or 'without an error' in label for label, _ in entries)
    plt.close(fig)


def test_nothing_is_clipped_and_every_text_is_inside(tmp_path):
    """An error-free batch (its triangle on the floor), the first test point near
    100 %, tiny losses (wide tick labels) and a long log directory name: every marker
    lies inside its panel, every text inside the figure."""
    steps = list(range(0, 2000, 100))
    train = [(s, 1.0 if s in (900, 1500) else 1 - 0.9 / (1 + s / 50)) for s in steps]
    curve = synthetic_curve(
        train, test=[(s, 1 - 0.95 / (1 + s / 40)) for s in steps],
        train_loss=[(s, 0.0004 + 2 / (1 + s)) for s in steps],
        test_loss=[(s, 0.0006 + 2 / (1 + s)) for s in steps], final=(1999, 0.9931))
    curve['source'] = 'run.json and TensorBoard events in %s' % ('/a/rather/long/path' * 6)
    fig = curves.plot_learning_curve(curve, title='Learning curve: recipe expert '
                                                  '(model.ckpt-1999)')
    assert lines_labelled(fig, 'without an error')
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        inside = ax.bbox.padded(0.5)
        for line in ax.get_lines():
            box = line.get_window_extent(renderer)
            assert (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0
                    and box.y1 <= inside.y1), '%r is clipped' % line.get_label()
    assert_texts_inside(fig)
    fig.savefig(tmp_path / 'curve.png', dpi=figures.DPI)
    assert gray(tmp_path / 'curve.png').shape == curves.CURVE_SIZE[::-1]
    plt.close(fig)


@pytest.mark.long
def test_learning_curve_png_keeps_its_text_inside(expert_drawn):
    drawn, _ = expert_drawn
    assert_texts_inside(drawn['learning_curve.png'])


# --- --upsample -------------------------------------------------------------------------

def distinct_levels(grid, row, col):
    return len(np.unique(gray_at(grid, row, col)))


@pytest.mark.long
def test_upsample_smooths_the_conv2_maps_only(expert_drawn):
    _, seen = expert_drawn
    out = seen.out
    fig = {}
    for smooth in (False, True):
        fig[smooth] = figures.plot_layer(
            out['W_conv2'][:, :, 0, :], seen.images[:1], out['h_pool2'][:1], seen.labels[:1],
            out['predictions'][:1], rows=2, smooth_maps=smooth)
    blocky, smooth = fig[False].grid_layout, fig[True].grid_layout
    maps = [(row, col) for row in (2, 3) for col in range(1, 33)
            if distinct_levels(blocky, row, col) > 2]
    assert maps
    # A 7x7 map in blocks has at most 49 gray levels; drawn smoothly, many more.
    assert all(distinct_levels(blocky, *cell) <= 49 for cell in maps)
    assert all(distinct_levels(smooth, *cell) > 49 for cell in maps)
    # The filters (5x5) and the digit stay blocks either way.
    for grid in (blocky, smooth):
        assert distinct_levels(grid, 0, 1) <= 25
        assert np.array_equal(gray_at(grid, 2, 0), gray_at(blocky, 2, 0))
    for f in fig.values():
        plt.close(f)
    assert vf.parse_args(['--upsample']).upsample and not vf.parse_args([]).upsample


# --- which recipe wrote the checkpoint ---------------------------------------------

@pytest.mark.long
def test_a_fast_checkpoint_is_read_as_fast_and_guessed_without_run_json(fast_run, tmp_path):
    shutil.copytree(fast_run[0] / 'ckpt', tmp_path / 'ckpt')     # its run.json goes below
    with_record = visualize('--checkpoint_dir', tmp_path / 'ckpt', '--output_dir',
                            tmp_path / 'a', '--samples', 1, '--misclassified', 0)
    assert with_record.returncode == 0, with_record.stderr
    assert 'recipe fast' in with_record.stderr and 'guessed' not in with_record.stderr
    # from run.json's log_dir
    assert_figure(tmp_path / 'a' / 'learning_curve.png', curves.CURVE_SIZE)

    (tmp_path / 'ckpt' / 'run.json').unlink()
    guessed = visualize('--checkpoint_dir', tmp_path / 'ckpt', '--output_dir',
                        tmp_path / 'b', '--samples', 1, '--misclassified', 0, cwd=tmp_path)
    assert guessed.returncode == 0, guessed.stderr
    assert 'no run.json config beside it; guessed recipe expert' in guessed.stderr
    assert 'fast' in guessed.stderr.split('they fit')[1]
    # No guessing of a log directory either (logs/expert would be another run's).
    assert not (tmp_path / 'b' / 'learning_curve.png').exists()


# --- run.json of the wrong shape ------------------------------------------------------

MALFORMED = {
    'history': (lambda r: r.update(history=5), 'history'),
    'test_accuracy': (lambda r: r.update(test_accuracy='x'), 'test_accuracy'),
    'batch_size': (lambda r: r['config'].update(batch_size='abc'), 'batch_size'),
    'weight_seed': (lambda r: r['config'].update(weight_seed='x'), 'weight_seed'),
}


@pytest.mark.long
@pytest.mark.parametrize('case', MALFORMED)
def test_a_malformed_run_json_field_is_one_warning_and_treated_as_absent(case, single,
                                                                          tmp_path):
    spoil, field = MALFORMED[case]
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(single.ckpt, ckpt)
    with open(ckpt / 'run.json') as f:
        record = json.load(f)
    spoil(record)
    (ckpt / 'run.json').write_text(json.dumps(record))
    proc = visualize('--checkpoint_dir', ckpt, '--output_dir', tmp_path / 'figures',
                     '--samples', 1, '--misclassified', 0)
    assert proc.returncode == 0, proc.stderr
    assert 'Traceback' not in proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if 'warning' in line]
    assert len(warnings) == 1 and field in warnings[0], proc.stderr
    # The rest of run.json still counts: its recipe, not a guess; the curve is drawn
    # (for a bad history, from the event files of the log_dir that run.json names).
    assert 'recipe single_conv' in proc.stderr and 'guessed' not in proc.stderr
    assert_figure(tmp_path / 'figures' / 'learning_curve.png', curves.CURVE_SIZE)


# --- a run that is still saving checkpoints -------------------------------------------

@pytest.mark.long
def test_a_checkpoint_pruned_while_it_is_chosen_gives_way_to_the_newest_left(
        expert, tmp_path, monkeypatch):
    """The newest checkpoint vanishes between being chosen and being read, as when a
    running training prunes it: the visualiser takes the newest one still there."""
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(expert.ckpt, ckpt)
    read = checkpoints.read_checkpoint
    pruned = []

    def read_after_a_prune(prefix):
        if not pruned:
            pruned.append(prefix)
            for path in checkpoints.checkpoint_files(prefix):
                os.remove(path)
        return read(prefix)
    monkeypatch.setattr(checkpoints, 'read_checkpoint', read_after_a_prune)
    _, seen = in_process('--checkpoint_dir', ckpt, '--samples', 1, '--misclassified', 0)
    assert pruned == [str(ckpt / 'model.ckpt-300')]
    assert seen.step == 200 and seen.checkpoint == str(ckpt / 'model.ckpt-200')


@pytest.mark.long
def test_the_visualiser_reads_a_run_that_saves_every_two_steps(tmp_path):
    ckpt = tmp_path / 'ckpt'
    trainer = start_script_until(
        'deep_cnn.py', '--recipe', 'single_conv', '--steps', 1000000, '--checkpoint_every', 2,
        '--log_every', 10, '--summary_every', 0, '--data_dir', DATA_DIR,
        '--checkpoint_dir', ckpt, '--log_dir', tmp_path / 'logs', line='step 20')
    try:
        assert trainer.poll() is None, trainer.stderr.read()
        for attempt in range(2):
            proc = visualize('--checkpoint_dir', ckpt, '--output_dir', tmp_path / 'figures',
                             '--samples', 1, '--misclassified', 0)
            assert proc.returncode == 0, proc.stderr
            assert 'recipe single_conv' in proc.stderr
        assert trainer.poll() is None   # the run went on saving all the while
    finally:
        trainer.send_signal(signal.SIGTERM)
        try:
            trainer.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            trainer.kill()
            trainer.communicate()


# --- errors -------------------------------------------------------------------------

@pytest.fixture(scope='module')
def bad_checkpoints(tmp_path_factory, single):
    """A file that is no checkpoint, a checkpoint directory whose files are damaged,
    and a real checkpoint whose conv1 has 8 filters, which no recipe has."""
    base = tmp_path_factory.mktemp('bad')
    garbage = base / 'garbage.bin'
    garbage.write_bytes(os.urandom(512))
    damaged = base / 'damaged'
    shutil.copytree(single.ckpt, damaged)
    for path in damaged.glob('model.ckpt-*'):
        path.write_bytes(os.urandom(512))
    odd = base / 'odd'
    tf = tfstart.import_tf()
    with tf.Graph().as_default():
        with tf.name_scope('conv1'):
            tf.Variable(tf.zeros([5, 5, 1, 8]), name='W_conv1')
        saver = tf.train.Saver()
        with tfstart.new_session() as sess:
            sess.run(tf.global_variables_initializer())
            saver.save(sess, str(odd / 'model.ckpt'), global_step=5, write_meta_graph=False)
    empty = base / 'empty'
    empty.mkdir()
    return {'garbage': garbage, 'damaged': damaged, 'odd': odd, 'empty': empty}


ERROR_CASES = {
    'default dir missing': ([], 'no checkpoint directory train_data/expert; train one '
                                'first, e.g. .venv/bin/python deep_cnn.py'),
    'a recipe dir missing': (['--checkpoint_dir', 'train_data/fast'],
                             'e.g. .venv/bin/python deep_cnn.py --recipe fast'),
    'dir missing': (['--checkpoint_dir', 'nowhere'], 'no checkpoint directory nowhere; train '
                    'one first, e.g. .venv/bin/python deep_cnn.py --checkpoint_dir nowhere'),
    'empty dir': (['--checkpoint_dir', '{empty}'], 'no checkpoint in'),
    'no such checkpoint': (['--checkpoint', 'nowhere/model.ckpt-5'], 'no checkpoint at'),
    'not a checkpoint': (['--checkpoint', '{garbage}'], 'not a readable TensorFlow checkpoint'),
    'damaged checkpoint': (['--checkpoint_dir', '{damaged}'],
                           'not a readable TensorFlow checkpoint'),
    'no recipe fits': (['--checkpoint_dir', '{odd}'], 'matches no recipe'),
    'no conv2': (['--checkpoint_dir', '{single}', '--conv2_filter', '3'], 'no conv2 layer'),
    'subfilter out of range': (['--checkpoint_dir', '{expert}', '--subfilter', '32'],
                               '--subfilter 32: each conv2 filter has 32 sub-filters, 0-31'),
}


@pytest.mark.long
@pytest.mark.parametrize('case', ERROR_CASES)
def test_errors_exit_1_with_one_line(case, bad_checkpoints, expert, single, tmp_path):
    args, message = ERROR_CASES[case]
    paths = dict(bad_checkpoints, expert=expert.ckpt, single=single.ckpt)
    args = [a.format(**paths) for a in args]
    proc = visualize(*args, '--output_dir', tmp_path / 'figures', cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: '), proc.stderr
    assert message in lines[0]
    assert proc.stdout == ''
    assert not (tmp_path / 'figures').exists()


def test_the_training_hint_is_the_readme_s_command_for_that_directory():
    hint = checkpoints.train_hint
    assert hint('train_data/expert') == 'train one first, e.g. .venv/bin/python deep_cnn.py'
    assert hint('train_data/fast/').endswith('.venv/bin/python deep_cnn.py --recipe fast')
    assert hint('/runs/train_data/single_conv').endswith(
        'deep_cnn.py --recipe single_conv --checkpoint_dir /runs/train_data/single_conv')
    assert hint('my runs').endswith("deep_cnn.py --checkpoint_dir 'my runs'")
    assert ' python ' not in ' ' + hint('nowhere')


@pytest.mark.parametrize('args', [['--samples', '0'], ['--subfilter', '-1'],
                                  ['--checkpoint', 'a', '--checkpoint_dir', 'b']])
def test_bad_flags_exit_2_with_one_line(args):
    proc = run_script('visualize_filters.py', '--data_dir', DATA_DIR, *args, timeout=TIMEOUT)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and 'error: ' in proc.stderr


# --- --over_training: the filters and a digit at each snapshot ------------------------

def over_training_size(rows, header):
    width = (2 * figures.MARGIN + curves.STEP_W + 32 * (curves.TILE + curves.TILE_GAP) + 16
             + curves.BARS_W)
    return width, header + curves.ROW_H * rows + 22


@pytest.mark.long
def test_over_training_draws_each_snapshot_and_an_animation(expert_run, tmp_path):
    from PIL import Image
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(expert_run[0] / 'ckpt', ckpt)
    whole = visualize('--checkpoint_dir', ckpt, '--over_training', '--output_dir', tmp_path / 'a')
    assert whole.returncode == 0, whole.stderr
    png, gif = tmp_path / 'a' / 'filters_over_training.png', tmp_path / 'a' / 'filters_over_training.gif'
    assert whole.stdout.splitlines() == ['wrote %s' % png, 'wrote %s' % gif]
    image = gray(png)
    header = image.shape[0] - curves.ROW_H * 3 - 22
    assert_figure(png, over_training_size(3, header))
    # Each row's filters drawn: the strip right of the step label is not blank.
    x0 = figures.MARGIN + curves.STEP_W
    for row in range(3):
        y = header + row * curves.ROW_H
        assert image[y:y + curves.TILE, x0:x0 + 32 * curves.TILE].std() > 0.1, row
    with Image.open(gif) as animation:
        assert animation.n_frames == 3
        assert animation.size[0] == over_training_size(1, 0)[0]
    # A damaged snapshot is named and skipped; the rest are drawn.
    data = ckpt / 'snapshots' / 'model.ckpt-100.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:5000])
    skipped = visualize('--checkpoint_dir', ckpt, '--over_training', '--output_dir', tmp_path / 'b')
    assert skipped.returncode == 0, skipped.stderr
    assert 'visualize_filters: skipped snapshot of step 100 is damaged (' in skipped.stderr
    with Image.open(tmp_path / 'b' / 'filters_over_training.gif') as animation:
        assert animation.n_frames == 2
    # A run from before snapshots: its one checkpoint.
    shutil.rmtree(ckpt / 'snapshots')
    old = visualize('--checkpoint_dir', ckpt, '--over_training', '--output_dir', tmp_path / 'c')
    assert old.returncode == 0, old.stderr
    assert_figure(tmp_path / 'c' / 'filters_over_training.png', over_training_size(1, header))
