"""visualize_filters.py on checkpoints of short real training runs.

One expert run (200 steps) and one single_conv run (100 steps) are trained once for
the module; the visualiser runs on them as a user would, through its command line.
"""

import json
import os
import shutil
import types

import matplotlib
import numpy as np
import pytest

matplotlib.use('Agg')
import matplotlib.image  # noqa: E402  (after the backend is chosen)

import deep_cnn  # noqa: E402  (imports TensorFlow only when asked)
import runs  # noqa: E402
import visualize_filters as vf  # noqa: E402
from conftest import DATA_DIR, run_script  # noqa: E402

SAMPLES = 3
CONV2_FILTER = 7
TIMEOUT = 600


def train(base, recipe, steps):
    """A short seeded deep_cnn.py run into base/ckpt and base/logs."""
    proc = run_script('deep_cnn.py', '--recipe', recipe, '--steps', steps, '--seed', 1,
                      '--log_every', 20, '--summary_every', 20, '--fresh',
                      '--data_dir', DATA_DIR, '--checkpoint_dir', base / 'ckpt',
                      '--log_dir', base / 'logs', timeout=TIMEOUT)
    assert proc.returncode == 0, proc.stderr
    with open(base / 'ckpt' / 'run.json') as f:
        return json.load(f)


def visualize(*args, cwd=None):
    return run_script('visualize_filters.py', '--data_dir', DATA_DIR, *args, cwd=cwd,
                      timeout=TIMEOUT)


def trained_and_drawn(tmp_path_factory, recipe, steps, checkpoint=None, *flags):
    """A short run of ``recipe`` and the visualiser's figures of it: of its checkpoint
    directory, or of the checkpoint named ``checkpoint`` there."""
    base = tmp_path_factory.mktemp(recipe)
    record = train(base, recipe, steps)
    out = base / 'figures'
    where = (['--checkpoint', base / 'ckpt' / checkpoint] if checkpoint
             else ['--checkpoint_dir', base / 'ckpt'])
    proc = visualize(*where, '--output_dir', out, '--samples', SAMPLES, *flags)
    assert proc.returncode == 0, proc.stderr
    return types.SimpleNamespace(base=base, ckpt=base / 'ckpt', out=out, proc=proc,
                                 record=record)


@pytest.fixture(scope='module')
def expert(tmp_path_factory):
    return trained_and_drawn(tmp_path_factory, 'expert', 200, None,
                             '--conv2_filter', CONV2_FILTER)


@pytest.fixture(scope='module')
def single(tmp_path_factory):
    return trained_and_drawn(tmp_path_factory, 'single_conv', 100, 'model.ckpt-100')


def gray(path):
    """The PNG as a 2-D array of gray levels in [0, 1]."""
    image = matplotlib.image.imread(path)
    return image[..., :3].mean(axis=2)


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
        strip = image[y:y + grid.cell, grid.x(0):grid.width - vf.MARGIN]
        assert strip.std() > 0.05, 'row %d of the grid is blank' % row


# --- the figures ------------------------------------------------------------------

@pytest.mark.slow
def test_expert_figures_have_the_expected_grid(expert):
    out = expert.out
    conv1 = vf.layer_grid(32, SAMPLES, rows=1)
    conv2 = vf.layer_grid(64, SAMPLES, rows=2)
    # 001's layouts: a digit column and 32 filters; filter row(s) plus a row (conv2: two)
    # per digit. Pinned in pixels, so a layout change shows up here.
    assert conv1.size() == (1544, 260)
    assert conv2.size() == (1544, 448)
    image = assert_figure(out / 'conv1.png', conv1.size())
    assert_cells_drawn(image, conv1, range(1 + SAMPLES))
    image = assert_figure(out / 'conv2.png', conv2.size())
    assert_cells_drawn(image, conv2, range(2 * (1 + SAMPLES)))
    filter_grid = vf.conv2_filter_grid(32)
    image = assert_figure(out / ('conv2_filter%d.png' % CONV2_FILTER), filter_grid.size())
    assert_cells_drawn(image, filter_grid, range(4))
    assert_figure(out / 'learning_curve.png', vf.CURVE_SIZE)

    with open(out / 'misclassified.json') as f:
        shown = len(json.load(f)['shown'])
    assert_figure(out / 'misclassified.png', vf.misclassified_grid(shown).size())


@pytest.mark.slow
def test_every_written_file_is_announced(expert):
    names = ['conv1.png', 'conv2.png', 'conv2_filter%d.png' % CONV2_FILTER,
             'misclassified.png', 'learning_curve.png', 'misclassified.json']
    assert expert.proc.stdout.splitlines() == [
        'wrote %s' % (expert.out / name) for name in names]
    assert sorted(os.listdir(expert.out)) == sorted(names)


@pytest.mark.slow
def test_the_digit_rows_show_the_first_test_digits(expert):
    """The digit cell of each row is the test image itself, drawn 0..1 in gray_r."""
    import mnist_data
    images = mnist_data.read_data_sets(DATA_DIR).test.images[:SAMPLES]
    grid = vf.layer_grid(32, SAMPLES)
    image = gray(expert.out / 'conv1.png')
    for d in range(SAMPLES):
        y, x = grid.row_y[1 + d], grid.x(0)
        cell = image[y + 1:y + grid.cell - 1, x + 1:x + grid.cell - 1]
        digit = images[d].reshape(28, 28)
        # Nearest-neighbour sampling of the 28x28 digit onto the cell's pixels.
        idx = ((np.arange(1, grid.cell - 1) + 0.5) * 28 / grid.cell).astype(int)
        expected = 1 - digit[np.ix_(idx, idx)]
        assert np.mean(np.abs(cell - expected) < 0.1) > 0.9


@pytest.mark.slow
def test_single_conv_gets_its_16_filter_figure(single):
    grid = vf.layer_grid(16, SAMPLES)
    image = assert_figure(single.out / 'conv1.png', grid.size())
    assert_cells_drawn(image, grid, range(1 + SAMPLES))
    assert not (single.out / 'conv2.png').exists()
    assert 'recipe single_conv' in single.proc.stderr
    assert_figure(single.out / 'learning_curve.png', vf.CURVE_SIZE)


@pytest.mark.slow
def test_the_recipe_is_recognised_without_run_json(single, tmp_path):
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(single.ckpt, ckpt)
    (ckpt / 'run.json').unlink()
    proc = visualize('--checkpoint_dir', ckpt, '--output_dir', tmp_path / 'figures',
                     '--samples', SAMPLES, '--misclassified', 0,
                     '--log_dir', single.base / 'logs')
    assert proc.returncode == 0, proc.stderr
    assert 'recipe single_conv' in proc.stderr
    assert_figure(tmp_path / 'figures' / 'conv1.png', vf.layer_grid(16, SAMPLES).size())
    # No run.json: the learning curve comes from the TensorBoard event files.
    assert_figure(tmp_path / 'figures' / 'learning_curve.png', vf.CURVE_SIZE)
    assert not (tmp_path / 'figures' / 'misclassified.png').exists()


# --- the misclassified digits ---------------------------------------------------

@pytest.fixture(scope='module')
def expert_predictions(expert):
    """Predictions of the expert checkpoint for all test digits, computed here with
    deep_cnn's own graph, independently of the visualiser."""
    import mnist_data
    tf = runs.import_tf()
    test = mnist_data.read_data_sets(DATA_DIR).test
    with tf.Graph().as_default() as graph:
        tf.set_random_seed(0)   # op determinism may be on in this process: restored anyway
        x = tf.placeholder(tf.float32, [None, 784])
        net = deep_cnn.deepnn(x, deep_cnn.RECIPES['expert'])
        saver = tf.train.Saver(var_list=list(net.variables.values()))
        prediction = tf.argmax(net.logits, 1)
    with tf.Session(graph=graph) as sess:
        saver.restore(sess, tf.train.latest_checkpoint(str(expert.ckpt)))
        predictions = sess.run(prediction, feed_dict={x: test.images})
    return test.labels, predictions


@pytest.mark.slow
def test_misclassified_grid_holds_only_misclassified_digits(expert, expert_predictions):
    labels, predictions = expert_predictions
    with open(expert.out / 'misclassified.json') as f:
        report = json.load(f)
    wrong = np.flatnonzero(predictions != labels)
    # deep_cnn's own evaluation at the end of training counted the same mistakes.
    assert report['misclassified'] == len(wrong)
    assert len(wrong) == round((1 - expert.record['test_accuracy']) * len(labels))
    assert 0 < len(report['shown']) == min(50, len(wrong))
    for digit in report['shown']:
        i = digit['index']
        assert digit['label'] == labels[i] != predictions[i] == digit['prediction']
    assert [d['index'] for d in report['shown']] == list(wrong[:len(report['shown'])])


def test_misclassified_helper():
    assert list(vf.misclassified([1, 2, 3, 4], [1, 0, 3, 0])) == [1, 3]


def test_a_model_without_mistakes_gets_a_note(tmp_path):
    images = np.zeros((5, 784), np.float32)
    fig = vf.plot_misclassified(images, [0] * 5, [0] * 5, [], 5, title='none')
    fig.savefig(tmp_path / 'm.png', dpi=vf.DPI)
    assert_figure(tmp_path / 'm.png', vf.misclassified_grid(0).size())


# --- the learning curve ---------------------------------------------------------

@pytest.mark.slow
def test_learning_curve_from_run_json(expert):
    curve = vf.learning_curve(expert.record, '/nonexistent')
    assert curve['source'] == 'run.json'
    assert [s for s, _ in curve['train']] == list(range(0, 200, 20))
    assert curve['final'] == (200, expert.record['test_accuracy'])


@pytest.mark.slow
def test_learning_curve_from_event_files(single, tmp_path):
    curve = vf.learning_curve({}, str(single.base / 'logs'))
    assert [s for s, _ in curve['train']] == list(range(0, 100, 20))
    assert [s for s, _ in curve['test']] == list(range(0, 100, 20))
    assert all(0 <= a <= 1 for _, a in curve['train'] + curve['test'])
    assert vf.learning_curve({}, str(tmp_path)) is None


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
    tf = runs.import_tf()
    with tf.Graph().as_default():
        with tf.name_scope('conv1'):
            tf.Variable(tf.zeros([5, 5, 1, 8]), name='W_conv1')
        saver = tf.train.Saver()
        with tf.Session() as sess:
            sess.run(tf.global_variables_initializer())
            saver.save(sess, str(odd / 'model.ckpt'), global_step=5, write_meta_graph=False)
    empty = base / 'empty'
    empty.mkdir()
    return {'garbage': garbage, 'damaged': damaged, 'odd': odd, 'empty': empty}


ERROR_CASES = {
    'default dir missing': ([], 'no checkpoint directory train_data/expert'),
    'dir missing': (['--checkpoint_dir', 'nowhere'], 'no checkpoint directory nowhere'),
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


@pytest.mark.slow
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


@pytest.mark.parametrize('args', [['--samples', '0'], ['--subfilter', '-1'],
                                  ['--checkpoint', 'a', '--checkpoint_dir', 'b']])
def test_bad_flags_exit_2_with_one_line(args):
    proc = visualize(*args)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and 'error: ' in proc.stderr


# --- figure legibility (issue 13) -------------------------------------------------

def overlaps(a, b):
    """Two window extents share area; touching edges do not count."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def test_misclassified_captions_do_not_overlap_the_digits():
    from matplotlib.text import Text
    # Four-digit indices and ink up to the cell edges: the widest captions, the
    # fullest digits.
    indices = np.array([7, 659, 1234, 9999] + list(range(8000, 8016)))
    images = np.zeros((10000, 784), np.float32)
    images[indices] = np.random.RandomState(0).rand(len(indices), 784)
    labels = np.arange(10000) % 10
    predictions = (labels + 1) % 10
    fig = vf.plot_misclassified(images, labels, predictions, indices, 10000,
                                title='Misclassified', subtitle='about\ncaptions')
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    digits = [ax.get_window_extent(renderer) for ax in fig.axes if ax.images]
    assert len(digits) == len(indices)
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip()]
    assert len(boxes) >= 2 * len(indices)   # each digit: label -> prediction, and index
    for text, box in boxes:
        assert not any(overlaps(box, d) for d in digits), 'text %r overlaps a digit' % text
    for n, (text, box) in enumerate(boxes):
        for other, box2 in boxes[n + 1:]:
            assert not overlaps(box, box2), 'texts %r and %r overlap' % (text, other)


def read_test_scalars(log_dir):
    """{tag: {step: value}} of the test/ event files, read here without the visualiser."""
    import runs
    tf = runs.import_tf()
    scalars = {}
    for path in sorted((log_dir / 'test').glob('events.out.tfevents.*')):
        for event in tf.train.summary_iterator(str(path)):
            for value in event.summary.value:
                scalars.setdefault(value.tag, {})[event.step] = value.simple_value
    return scalars


def lines_labelled(fig, word):
    return [line for ax in fig.axes for line in ax.get_lines() if word in line.get_label()]


@pytest.mark.slow
def test_learning_curve_shows_test_error_and_loss_on_log_axes(expert):
    scalars = read_test_scalars(expert.base / 'logs')
    steps = list(range(0, 200, 20))
    assert sorted(scalars['accuracy']) == sorted(scalars['cross_entropy']) == steps
    curve = vf.learning_curve(expert.record, str(expert.base / 'logs'))
    fig = vf.plot_learning_curve(curve, title='t')
    for tag, expected in (('accuracy', [1 - scalars['accuracy'][s] for s in steps]),
                          ('cross_entropy', [scalars['cross_entropy'][s] for s in steps])):
        found = [line for line in lines_labelled(fig, 'test')
                 if len(line.get_ydata()) == len(steps)
                 and np.allclose(line.get_ydata(), expected, rtol=0, atol=1e-9)]
        assert len(found) == 1, 'no test line for %s' % tag
        assert list(found[0].get_xdata()) == steps
        assert found[0].axes.get_yscale() == 'log'
    # The training average covers every logged step, from the first.
    train_steps = [s for s, _ in curve['train']]
    averages = lines_labelled(fig, 'moving average')
    assert list(averages[0].get_xdata()) == train_steps


def test_moving_average_is_centred_and_covers_the_ends():
    assert list(vf.moving_average([0, 0, 3, 0, 0], 1)) == [0, 1, 1, 1, 0]
    # The window narrows symmetrically at the ends: each end point is its own mean.
    assert np.allclose(vf.moving_average([4, 0, 0, 0, 8], 5), [4, 4 / 3, 2.4, 8 / 3, 8])


def map_interpolations(fig, size):
    """The interpolation of each size x size image in the figure."""
    return {ax.images[0].get_interpolation() for ax in fig.axes
            if ax.images and ax.images[0].get_array().shape == (size, size)}


@pytest.mark.slow
def test_upsample_smooths_the_conv2_maps_only(expert, tmp_path, monkeypatch):
    drawn = {}
    plot_layer = vf.plot_layer

    def recording_plot_layer(*args, **kwargs):
        drawn[kwargs['filter_label']] = fig = plot_layer(*args, **kwargs)
        return fig
    monkeypatch.setattr(vf, 'plot_layer', recording_plot_layer)
    args = vf.parse_args(['--checkpoint_dir', str(expert.ckpt), '--data_dir', DATA_DIR,
                          '--output_dir', str(tmp_path), '--samples', '1',
                          '--misclassified', '0', '--upsample'])
    assert vf.visualize(args) == 0
    conv2 = drawn['W_conv2']
    assert map_interpolations(conv2, 7) == {'bilinear'}
    assert map_interpolations(conv2, 5) == map_interpolations(conv2, 28) == {'nearest'}
    assert map_interpolations(drawn['W_conv1'], 14) == {'nearest'}
    # Without the flag: seed 001's blocks.
    default = plot_layer(np.zeros((5, 5, 64)), np.zeros((1, 784)), np.ones((1, 7, 7, 64)),
                         [1], [1], rows=2)
    assert map_interpolations(default, 7) == {'nearest'}
    assert not vf.parse_args([]).upsample


# --- which recipe wrote the checkpoint ---------------------------------------------

@pytest.mark.slow
def test_a_fast_checkpoint_is_read_as_fast_and_guessed_without_run_json(tmp_path):
    train(tmp_path, 'fast', 20)
    with_record = visualize('--checkpoint_dir', tmp_path / 'ckpt', '--output_dir',
                            tmp_path / 'a', '--samples', 1, '--misclassified', 0)
    assert with_record.returncode == 0, with_record.stderr
    assert 'recipe fast' in with_record.stderr and 'guessed' not in with_record.stderr
    assert (tmp_path / 'a' / 'learning_curve.png').exists()   # from run.json's log_dir

    (tmp_path / 'ckpt' / 'run.json').unlink()
    guessed = visualize('--checkpoint_dir', tmp_path / 'ckpt', '--output_dir',
                        tmp_path / 'b', '--samples', 1, '--misclassified', 0, cwd=tmp_path)
    assert guessed.returncode == 0, guessed.stderr
    assert 'no run.json config beside it; guessed recipe expert' in guessed.stderr
    assert 'fast' in guessed.stderr.split('they fit')[1]
    # No guessing of a log directory either (logs/expert would be another run's).
    assert not (tmp_path / 'b' / 'learning_curve.png').exists()
