"""classify.py with a real `fast` checkpoint (conftest's, trained once per session) on
photos of MNIST test digits made by deep_mnist/photos.py, and on bad inputs."""

import json
import os
import re
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import classify
import deep_cnn
import mnist_data
from conftest import FAST_CLASSIFIER_STEPS, run_script
from deep_mnist import checkpoints, figures, handwriting, photos

PHOTOS = 240            # the photo set: at least 200
LINE = re.compile(r'^(?P<path>.+): (?P<digit>\d) \((?P<p>\d+\.\d) %\), '
                  r'next (?P<next>\d) \((?P<q>\d+\.\d) %\)$')

pytestmark = pytest.mark.long


@pytest.fixture(scope='session')
def fast_checkpoint(fast_classifier):
    """conftest's shared `fast` checkpoint directory, as a string."""
    return str(fast_classifier)


@pytest.fixture(scope='session')
def test_set(data_dir):
    return mnist_data.read_data_sets(data_dir).test


@pytest.fixture(scope='session')
def photo_dir(tmp_path_factory, test_set):
    """The photo set: PHOTOS photos of the first test digits, and {file name: label}."""
    directory = tmp_path_factory.mktemp('photos')
    labels = photos.write_photo_set(str(directory), test_set.images, test_set.labels, PHOTOS)
    return directory, labels


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


def test_the_photo_set_is_classified_at_least_95_percent(capsys, fast_checkpoint, photo_dir):
    directory, labels = photo_dir
    code, out, err = classify_main(capsys, '--checkpoint_dir', fast_checkpoint, '--json',
                                   directory)
    assert code == 0, err
    results = json.loads(out)['results']
    assert len(results) == PHOTOS       # labels.json is not an image: the folder's images only
    right = [r['digit'] == labels[os.path.basename(r['path'])] for r in results]
    assert np.mean(right) >= 0.95


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
        expected = net.predict(handwriting.prepare_file(str(path)).input[None])[0]
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
    bad = {tmp_path / 'missing.jpg': 'no such file or folder',
           tmp_path / 'text.png': 'not an image',
           tmp_path / 'blank.jpg': r'no ink found \(blank paper\?\)',
           tmp_path / 'huge.png': r'too large to decode safely \(12000 x 9000\)',
           tmp_path / 'empty': 'no images in this folder'}
    proc = run_script('classify.py', '--checkpoint_dir', fast_checkpoint, *bad, good)
    assert proc.returncode == 1
    assert 'Traceback' not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith(str(tmp_path))]
    assert len(errors) == len(bad)
    for (path, reason), line in zip(bad.items(), errors):
        assert re.fullmatch(re.escape(str(path)) + ': ' + reason, line), line
    [answer] = proc.stdout.splitlines()
    assert LINE.match(answer)['path'] == str(good)
    assert int(LINE.match(answer)['digit']) == labels[good.name]


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
    prepared = handwriting.prepare_file(path)
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=fast_checkpoint) as net:
        maps = {n: m[0] for n, m in net.run(['h_conv1', 'h_conv2'], prepared.input[None]).items()}
        probs = net.predict(prepared.input[None])[0]
    fig = figures.plot_explain(handwriting.load_photo(path, figures.STEP_CELL), prepared.steps,
                               maps, probs, title='t', subtitle='s')
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
