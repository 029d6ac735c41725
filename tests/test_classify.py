"""classify.py with a real `fast` checkpoint (conftest's, trained once per session) on
photos of MNIST test digits made by deep_mnist/photos.py, and on bad inputs."""

import json
import os
import re
import signal
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import classify
import deep_cnn
import mnist_data
from conftest import FAST_CLASSIFIER_STEPS, run_script, start_script_until
from deep_mnist import checkpoints, handwriting, photos

PHOTOS = 240            # the photo set: at least 200
TABLES = 100            # sheets on tables
NUMBERS = 60            # numbers of 2-5 digits
LINE = re.compile(r'^(?P<path>.+): (?P<digit>\d) \((?P<p>\d+\.\d) %\), '
                  r'next (?P<next>\d) \((?P<q>\d+\.\d) %\)$')
NUMBER_LINE = re.compile(r"^(?P<path>.+): (?P<number>\d+) \(each digit's probability: "
                         r"(?P<p>\d+( \d+)*) %\)$")

pytestmark = pytest.mark.long


@pytest.fixture(scope='session')
def fast_checkpoint(fast_classifier):
    """conftest's shared `fast` checkpoint directory, as a string."""
    return str(fast_classifier)


@pytest.fixture(scope='session')
def test_set(data_dir):
    return mnist_data.read_data_sets(data_dir).test


def photo_set(tmp_path_factory, test_set, kind, count):
    directory = tmp_path_factory.mktemp(kind)
    return directory, photos.write_photo_set(str(directory), test_set.images, test_set.labels,
                                             count, kind=kind)


@pytest.fixture(scope='session')
def photo_dir(tmp_path_factory, test_set):
    """The photo set: PHOTOS photos of the first test digits, and {file name: label}."""
    return photo_set(tmp_path_factory, test_set, 'photos', PHOTOS)


@pytest.fixture(scope='session')
def table_dir(tmp_path_factory, test_set):
    """TABLES photos of sheets on tables, and {file name: label}."""
    return photo_set(tmp_path_factory, test_set, 'tables', TABLES)


@pytest.fixture(scope='session')
def number_dir(tmp_path_factory, test_set):
    """NUMBERS photos of numbers, and {file name: the number as text}."""
    return photo_set(tmp_path_factory, test_set, 'numbers', NUMBERS)


def classify_main(capsys, *args):
    """classify.main in this process: (exit code, stdout, stderr)."""
    code = classify.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


# --- the photo set ---------------------------------------------------------------------

def test_the_photo_set_is_varied(photo_dir):
    directory, labels = photo_dir
    with open(directory / 'labels.json') as f:
        looks = [entry['look'] for entry in json.load(f).values()]
    assert len(labels) == PHOTOS >= 200
    assert {look['dark_ink'] for look in looks} == {True, False}
    assert {look['format'] for look in looks} == {'JPEG', 'PNG', 'PNG-alpha'}
    assert {look['orientation'] for look in looks} == {1, 3, 6, 8}
    assert any(look['ruled'] for look in looks)
    heights = [look['height'] for look in looks]
    assert min(heights) < 90 and max(heights) > 200
    assert len({look['quality'] for look in looks if look['format'] == 'JPEG'}) > 10


def test_the_photo_set_is_the_same_every_time(test_set):
    first = [contents for _, contents, _, _ in photos.photo_set(test_set.images, test_set.labels, 3)]
    again = [contents for _, contents, _, _ in photos.photo_set(test_set.images, test_set.labels, 3)]
    assert first == again


def test_the_tables_are_varied_and_the_same_every_time(table_dir, test_set):
    directory, labels = table_dir
    with open(directory / 'labels.json') as f:
        looks = [entry['look'] for entry in json.load(f).values()]
    assert {look['table'] for look in looks} == set(photos.TABLES)
    assert any(look['shadow'] for look in looks) and any(look['other_sheet'] for look in looks)
    assert 0.45 <= min(look['cover'] for look in looks) < 0.55 < 0.75 < max(
        look['cover'] for look in looks) <= 0.85
    assert max(abs(look['turn']) for look in looks) > 5
    first = list(photos.photo_set(test_set.images, test_set.labels, 2, kind='tables'))
    assert first == list(photos.photo_set(test_set.images, test_set.labels, 2, kind='tables'))


def test_photos_and_sheets_on_tables_are_classified_at_least_95_percent(
        capsys, fast_checkpoint, photo_dir, table_dir):
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--json',
                                   photo_dir[0], table_dir[0])
    assert code == 0, err
    results = json.loads(out)['results']
    # labels.json is not an image: the folders' images only
    assert len(results) == PHOTOS + TABLES
    for (directory, labels), part in [(photo_dir, results[:PHOTOS]), (table_dir, results[PHOTOS:])]:
        assert {os.path.dirname(r['path']) for r in part} == {str(directory)}
        right = [r['digit'] == labels[os.path.basename(r['path'])] for r in part]
        assert np.mean(right) >= 0.95


def test_numbers_are_read_whole_at_least_90_percent(capsys, fast_checkpoint, number_dir):
    directory, labels = number_dir
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--json',
                                   '--number', directory)
    results = json.loads(out)['results']
    assert len(results) + len(err.splitlines()) == NUMBERS
    right = [r['number'] == labels[os.path.basename(r['path'])] for r in results]
    assert sum(right) >= 0.9 * NUMBERS
    for r in results:
        assert set(r) == {'path', 'number', 'digits', 'boxes', 'probabilities'}
        assert len(r['digits']) == len(r['boxes']) == len(r['probabilities']) == len(r['number'])
        assert [b[0] for b in r['boxes']] == sorted(b[0] for b in r['boxes'])
        assert all(left < right and top < bottom for left, top, right, bottom in r['boxes'])


def test_a_number_is_one_line_and_a_figure(capsys, fast_checkpoint, number_dir, photo_dir,
                                           tmp_path):
    directory, labels = number_dir
    single = photo_dir[0] / sorted(photo_dir[1])[0]
    paths = [directory / sorted(labels)[0], single]
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--number',
                                   '--explain', tmp_path, *paths)
    assert code == 0, err
    first, second = [NUMBER_LINE.match(text) for text in out.splitlines()]
    assert first['path'] == str(paths[0]) and len(first['p'].split()) == len(first['number'])
    assert second['number'] == str(photo_dir[1][single.name])    # one digit: a number of one
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.stem + '.png' for p in paths)


# --- the answer ------------------------------------------------------------------------

def test_one_line_per_image_in_order(capsys, fast_checkpoint, photo_dir):
    directory, labels = photo_dir
    names = sorted(labels)[:4][::-1]
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint,
                                   *[directory / n for n in names])
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4
    for name, text in zip(names, lines):
        match = LINE.match(text)
        assert match, text
        assert match['path'] == str(directory / name)
        assert int(match['digit']) == labels[name] != int(match['next'])
        assert float(match['p']) >= float(match['q'])


def test_json_has_every_result_and_error(capsys, fast_checkpoint, photo_dir, tmp_path):
    directory, labels = photo_dir
    name = sorted(labels)[0]
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--json',
                                   directory / name, tmp_path / 'missing.png')
    assert code == 1
    data = json.loads(out)
    assert data['recipe'] == 'fast' and data['step'] == FAST_CLASSIFIER_STEPS
    assert data['checkpoint'].endswith('model.ckpt-%d' % FAST_CLASSIFIER_STEPS)
    [result] = data['results']
    assert set(result) == {'path', 'digit', 'probability', 'next', 'next_probability',
                           'probabilities'}
    assert result['path'] == str(directory / name) and result['digit'] == labels[name]
    assert len(result['probabilities']) == 10
    assert sum(result['probabilities']) == pytest.approx(1, abs=1e-4)
    assert result['probability'] == pytest.approx(max(result['probabilities']), abs=1e-5)
    assert data['errors'] == [{'path': str(tmp_path / 'missing.png'),
                               'error': 'no such file or folder'}]


def test_probabilities_are_the_predict_functions(capsys, fast_checkpoint, photo_dir):
    directory, labels = photo_dir
    path = directory / sorted(labels)[5]
    code, out, _ = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--json', path)
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=fast_checkpoint) as net:
        expected = net.predict(handwriting.prepare(handwriting.load_image(str(path))).input[None])[0]
    np.testing.assert_allclose(json.loads(out)['results'][0]['probabilities'], expected,
                               atol=1e-5)


def test_a_folder_gives_its_images_sorted(capsys, fast_checkpoint, photo_dir, tmp_path):
    directory, labels = photo_dir
    names = sorted(labels)[:3]
    for new, name in zip(['b.png', 'a.JPG', 'c.webp'], names):
        Image.open(directory / name).save(tmp_path / new, format=Image.registered_extensions()[
            '.' + new.rsplit('.', 1)[1].lower()])
    (tmp_path / 'notes.txt').write_text('not an image, and not read')
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, tmp_path)
    assert code == 0, err
    paths = [LINE.match(text)['path'] for text in out.splitlines()]
    assert paths == [str(tmp_path / n) for n in ['a.JPG', 'b.png', 'c.webp']]


# --- bad input ----------------------------------------------------------------------------

def png_claiming(width, height):
    """A PNG header claiming width x height, with nothing to decode behind it."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0' * 16)) + chunk(b'IEND', b''))


def test_bad_inputs_get_a_line_each_and_the_rest_are_classified(fast_checkpoint, photo_dir,
                                                                 tmp_path):
    directory, labels = photo_dir
    good = directory / sorted(labels)[0]
    (tmp_path / 'text.png').write_text('hello')
    Image.new('L', (200, 150), 230).save(tmp_path / 'blank.jpg')
    (tmp_path / 'huge.png').write_bytes(png_claiming(12000, 9000))
    (tmp_path / 'empty').mkdir()
    os.mkfifo(tmp_path / 'pipe.png')        # opened, it would wait for a writer forever
    Image.fromarray(np.random.default_rng(0).integers(0, 25, (300, 400), np.uint8)).save(
        tmp_path / 'dark_room.jpg')
    table = photos.table_top('wood', (300, 400), np.random.default_rng(0))
    Image.fromarray((np.clip(table, 0, 1) * 255).astype(np.uint8)).save(tmp_path / 'table.jpg')
    bad = {tmp_path / 'missing.jpg': 'no such file or folder',
           tmp_path / 'pipe.png': r'not a regular file \(a named pipe\)',
           tmp_path / 'dark_room.jpg': 'too dark to find a sheet of paper',
           tmp_path / 'table.jpg': r'no sheet of paper found \(the table alone\?\)',
           tmp_path / 'text.png': 'not an image',
           tmp_path / 'blank.jpg': r'no ink found \(blank paper\?\)',
           tmp_path / 'huge.png': r'too large to decode safely \(12000 x 9000\)',
           tmp_path / 'empty': 'no images in this folder'}
    proc = run_script('classify.py', '--checkpoint_dir', fast_checkpoint, *bad, good,
                      timeout=300)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith(str(tmp_path))]
    assert len(errors) == len(bad)
    for (path, reason), line in zip(bad.items(), errors):
        assert re.fullmatch(re.escape(str(path)) + ': ' + reason, line), line
    [answer] = proc.stdout.splitlines()
    assert LINE.match(answer)['path'] == str(good)
    assert int(LINE.match(answer)['digit']) == labels[good.name]


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM], ids=['ctrl-c', 'sigterm'])
def test_ctrl_c_or_sigterm_ends_it_at_once(fast_checkpoint, photo_dir, tmp_path, signum):
    directory, _ = photo_dir
    proc = start_script_until('classify.py', '--checkpoint_dir', fast_checkpoint, '--explain',
                              tmp_path, directory, line=str(directory))
    proc.send_signal(signum)            # while the first batch's figures are drawn
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum
    assert err.splitlines()[-1] == 'classify: interrupted' and 'Traceback' not in err


def test_no_checkpoint_is_the_visualisers_message(capsys, tmp_path, photo_dir):
    directory, labels = photo_dir
    code, out, err = classify_main(capsys, '--checkpoint_dir', tmp_path / 'none',
                                   directory / sorted(labels)[0])
    assert code == 1 and out == ''
    assert err.startswith('error: no checkpoint directory %s; train one first' % (tmp_path / 'none'))


def test_no_paths_is_a_usage_error():
    proc = run_script('classify.py')
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and 'IMAGE_OR_FOLDER' in proc.stderr


# --- --explain -----------------------------------------------------------------------------

def test_explain_writes_a_figure_per_image(capsys, fast_checkpoint, photo_dir, tmp_path):
    directory, labels = photo_dir
    names = sorted(labels)[:2]
    out_dir = tmp_path / 'explain'
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--explain',
                                   out_dir, *[directory / n for n in names])
    assert code == 0, err
    assert len(out.splitlines()) == 2           # stdout: the answers only
    written = sorted(p.name for p in out_dir.iterdir())
    assert written == sorted(n.rsplit('.', 1)[0] + '.png' for n in names)
    sizes = set()
    for name in written:
        with Image.open(out_dir / name) as image:
            image.load()
            sizes.add(image.size)
            # Not blank: the photo, the steps and the maps are drawn.
            assert np.asarray(image.convert('L')).std() > 20
    [(width, height)] = sizes
    assert width >= 1000 and 400 <= height <= 900


def test_explain_figure_lays_out_every_step_and_map(fast_checkpoint, photo_dir):
    directory, labels = photo_dir
    path = str(directory / sorted(labels)[0])
    prepared = handwriting.prepare(handwriting.load_image(path))
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=fast_checkpoint) as net:
        maps = {n: m[0] for n, m in net.run(['h_conv1', 'h_conv2'], prepared.input[None]).items()}
        probs = net.predict(prepared.input[None])[0]
    fig = classify.plot_explain(handwriting.load_photo(path, classify.STEP_CELL), prepared.steps,
                                maps, probs, title='t', subtitle='s', sheet=prepared.sheet)
    texts = {t.get_text() for t in fig.texts}
    assert {name for name, _ in prepared.steps} | {'photo'} <= texts
    assert {'h_conv1\n0\u201331', 'h_conv2\n0\u201331', 'h_conv2\n32\u201363'} <= texts
    bars = fig.axes[-1].patches
    assert len(bars) == 10
    np.testing.assert_allclose([b.get_height() for b in bars], probs)
    import matplotlib.pyplot as plt
    plt.close(fig)


def test_explain_into_an_unwritable_place_is_one_line(capsys, fast_checkpoint, photo_dir,
                                                     tmp_path):
    directory, labels = photo_dir
    (tmp_path / 'file').write_text('')
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--explain',
                                   tmp_path / 'file', directory / sorted(labels)[0])
    assert code == 1
    assert err.strip().startswith('error: --explain: cannot write into')
    assert len(err.strip().splitlines()) == 1


def test_batches_keep_the_order_and_restore_once(capsys, monkeypatch, fast_checkpoint,
                                                 photo_dir):
    directory, labels = photo_dir
    names = sorted(labels)[:7]
    opened, real = [], checkpoints.open_checkpoint

    def counting(*args, **kwargs):
        opened.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(classify.checkpoints, 'open_checkpoint', counting)
    monkeypatch.setattr(classify, 'BATCH', 3)
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint,
                                   *[directory / n for n in names[:4]],
                                   directory / 'missing.png',
                                   *[directory / n for n in names[4:]])
    assert code == 1 and opened == [1]
    paths = [LINE.match(text)['path'] for text in out.splitlines()]
    assert paths == [str(directory / n) for n in names]


def test_figure_names_are_unique():
    names = classify.FigureNames()
    assert [names(p) for p in ['a/3.jpg', 'a/3.png', 'b/3.jpg', 'b/3-2.png']] == \
        ['3.png', '3-2.png', '3-3.png', '3-2-2.png']
