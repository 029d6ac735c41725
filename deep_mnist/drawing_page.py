"""``classify.py --serve``: a local page to draw a digit on and watch every layer read it
(drawing_page.html; docs/classify.md has its routes and fields), on the standard library."""

import base64
import contextlib
import errno
import functools
import http.server
import io
import json
import pathlib
import signal
import socket
import sys
import threading
import time
import urllib.parse

import numpy as np
from PIL import Image

from deep_mnist import checkpoints, cli, figures, handwriting, signals

PAGE = pathlib.Path(__file__).with_name('drawing_page.html')
MAX_BODY = 4 * 1024 * 1024    # a 280x280 drawing is a few kB; a photo of a page fits too
LAYERS = ('h_conv1', 'h_pool1', 'h_conv2', 'h_pool2', 'h_fc1')
SOURCES = 3         # pooled maps named per fc1 unit
# The page loads nothing from elsewhere: the browser itself holds it to that.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'")


class RequestError(Exception):
    """A request answered with a 4xx: RequestError(status, a one-line reason)."""


def png_base64(gray):
    """A 2-D array in [0, 1] (0 white, 1 black, the figures' gray_r) as a base64 PNG."""
    pixels = np.round((1 - np.clip(gray, 0, 1)) * 255).astype(np.uint8)
    Image.fromarray(pixels, 'L').save(out := io.BytesIO(), 'PNG', compress_level=1)
    return base64.b64encode(out.getvalue()).decode('ascii')


def maps(array):
    """[H, W, C] as C maps of rows of numbers; [N] as one square grid."""
    array = array.astype(float)     # float32's 0.1234 would print as 0.12340000271797180
    array = (np.moveaxis(array, -1, 0) if array.ndim > 1
             else array.reshape(round(np.sqrt(array.size)), -1))
    return np.round(array, 4).tolist()      # the page checks its sums to 1e-4


@functools.lru_cache(maxsize=8)     # a slider move sends the same drawing again
def prepare(image_bytes, number=False, pad=False):
    """The drawing prepared as a photo is (415: no image, 422: no digit); ``pad``: no sheet."""
    status = 415
    try:
        image = handwriting.load_image(io.BytesIO(image_bytes))
        status = 422
        return (handwriting.prepare_number if number else handwriting.prepare)(image, all_paper=pad)
    except handwriting.HandwritingError as e:
        raise RequestError(status, str(e)) from None


class Reader:
    """The page's questions to ``net``; a snapshot's network is opened once, when first asked."""

    def __init__(self, net, say=None):
        self.net, self.opened, self.lock = net, {net.step: net}, threading.Lock()
        self.steps = checkpoints.steps_of(net)
        self.say = say or (lambda line: print(line, file=sys.stderr))
        self.fc1 = {}       # step -> the weights fc1 reads the pooled maps with

    def at(self, step):
        """The network of ``step`` (None: the checkpoint's); RequestError 404 if none."""
        step = self.net.step if step is None else step
        with self.lock:
            if step not in self.opened:
                if step not in self.steps:
                    raise RequestError(404, 'no snapshot of step %s (steps kept: %s)' % (
                        step, ', '.join(map(str, self.steps))))
                try:
                    self.opened[step] = self.net.at_step(step)
                except checkpoints.CheckpointError as e:
                    self.steps.remove(step)
                    self.say('drawing page: skipped %s' % e)
                    raise RequestError(404, str(e)) from None
            return self.opened[step]

    def weights(self, step):
        net = self.at(step)
        found = net.run([n for n in ('W_conv1', 'b_conv1', 'W_conv2') if n in net.layers])
        answer = {'b_conv1': found['b_conv1'].tolist()} if 'b_conv1' in found else {}
        answer['W_conv1'] = np.moveaxis(found['W_conv1'][:, :, 0, :], -1, 0).tolist()
        if 'W_conv2' in found:      # [64][32][5][5]: each map's slices
            answer['W_conv2'] = maps(found['W_conv2'].transpose(2, 0, 1, 3))
        return dict(answer, step=net.step)

    def sources(self, net, pooled):
        """Per fc1 unit, the SOURCES pooled maps whose cells add most to it."""
        if net.step not in self.fc1:
            self.fc1[net.step] = net.run(['W_fc1'])['W_fc1']
        cells = pooled.reshape(-1, pooled.shape[-1])                    # [49, 64]
        share = np.einsum('pc,pcu->uc', cells, self.fc1[net.step].reshape(*cells.shape, -1))
        top = np.argsort(-share, axis=1)[:, :SOURCES]
        return [[[int(c), round(float(row[c]), 3)] for c in best] for best, row in zip(top, share)]

    def classify(self, image_bytes, step=None, number=False, which=0, pad=False):
        """The answer to a drawing; ``number``: digits in a row, the layers digit ``which``'s."""
        net, prepared = self.at(step), prepare(image_bytes, number, pad)
        if not 0 <= which < len(prepared.inputs):
            raise RequestError(400, 'no digit %d: the number has %d'
                               % (which, len(prepared.inputs)))
        out = net.run(['probabilities'] + [n for n in LAYERS if n in net.layers], prepared.inputs)
        every = np.round(out.pop('probabilities').astype(float), 6)
        layers = {n: a[which] for n, a in out.items()}
        answer = {
            'digit': int(np.argmax(every[which])), 'step': net.step,
            'probabilities': every[which].tolist(),
            'input': np.round(prepared.inputs[which].reshape(28, 28), 6).tolist(),
            'conv1': [png_base64(figures.from_zero(m))
                      for m in np.moveaxis(layers['h_conv1'], -1, 0)],
            'layers': {n: maps(a) for n, a in layers.items()},
            'fc1_sources': self.sources(net, layers.get('h_pool2', layers['h_pool1'])),
        }
        if number:
            answer.update(number=''.join(str(p.argmax()) for p in every), chosen=which, digits=[
                {'digit': int(p.argmax()), 'probabilities': p.tolist(), 'box': list(map(int, box))}
                for p, box in zip(every, prepared.boxes)])
        return answer

    def close(self):
        for step in self.opened.keys() - {self.net.step}:    # the caller closes its own net
            self.opened[step].close()


class Handler(http.server.BaseHTTPRequestHandler):
    """GET / is the page; POST /classify a drawing; GET /steps, /weights; else a 4xx."""

    server_version = 'deep-mnist-drawing-page'
    timeout = 30        # seconds a client may take to send its request
    routes = {'/': ('GET', 'HEAD'), '/index.html': ('GET', 'HEAD'), '/classify': ('POST',),
              '/steps': ('GET',), '/weights': ('GET',)}

    def answer(self):
        """Send the page, or the route's answer as JSON; a RequestError as a 4xx."""
        status, headers = 200, {'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff'}
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path not in self.routes:
                shown = path if len(path) <= 80 else path[:77] + '...'
                raise RequestError(404, 'no such page: %s (the page is at /)' % shown)
            if self.command not in self.routes[path]:
                headers['Allow'] = ', '.join(self.routes[path])
                raise RequestError(405, '%s is not allowed on %s (only %s)'
                                   % (self.command, path, headers['Allow']))
            if path in ('/', '/index.html'):
                body, headers['Content-Security-Policy'] = self.server.page, CSP
            else:   # the method of the route's name: /steps is steps()
                body = getattr(self, path[1:])()
        except RequestError as e:
            status, body = e.args[0], {'error': e.args[1]}
        except Exception as e:      # a bug: one line here, the client gets a 500
            self.server.say('drawing page: %s on %s: %s' % (type(e).__name__, self.path, e))
            status, body = 500, {'error': 'internal error'}
        html = isinstance(body, bytes)
        body = body if html else json.dumps(body, separators=(',', ':')).encode()
        self.send_response(status)
        headers.update({'Content-Type': 'text/html; charset=utf-8' if html else
                        'application/json', 'Content-Length': str(len(body))})
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != 'HEAD':
            self.wfile.write(body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = answer  # it sorts

    def whole(self, name, default=None, status=400, why='%s=%r: a whole number'):
        """The query's whole number ``name``, or ``default``; RequestError if not one."""
        values = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).get(name)
        try:
            return int(values[-1]) if values else default
        except ValueError:
            raise RequestError(status, why % (name, values[-1][:40])) from None

    def step(self):
        return self.whole('step', None, 404, 'no snapshot of %s %r: a step is a whole number')

    def classify(self):
        body = self.read_body()      # first: a refused step leaves nothing unread
        return self.server.reader.classify(body, self.step(), bool(self.whole('number', 0)),
                                           self.whole('digit', 0), bool(self.whole('pad', 0)))

    def steps(self):
        return {'steps': self.server.reader.steps, 'step': self.server.reader.net.step}

    def weights(self):
        return self.server.reader.weights(self.step())

    def read_body(self):
        """The request's body, its length checked from the header before reading."""
        keep, self.close_connection = self.close_connection, True   # until it is read whole
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            raise RequestError(411, 'send the image with a Content-Length, not chunked')
        try:
            length = int(self.headers.get('Content-Length', ''))
        except ValueError:
            raise RequestError(411, 'a Content-Length header is needed') from None
        if length < 0:
            raise RequestError(400, 'a negative Content-Length')
        if length > MAX_BODY:
            # Drain the rest (64 MB, 2 s at most): the client then reads a 413, not a reset.
            left, deadline = min(length, 64 * 1024 * 1024), time.monotonic() + 2
            self.connection.settimeout(0.2)
            with contextlib.suppress(OSError):
                while left > 0 and time.monotonic() < deadline and (
                        chunk := self.rfile.read1(min(left, 65536))):
                    left -= len(chunk)
            raise RequestError(413, 'the image is %d bytes; at most %d (%d MB) are read'
                               % (length, MAX_BODY, MAX_BODY // (1024 * 1024)))
        body = self.rfile.read(length)
        if len(body) < length:
            raise RequestError(400, 'the body ended after %d of %d bytes' % (len(body), length))
        self.close_connection = keep
        if length == 0:
            raise RequestError(400, 'an empty body: send the drawing as a PNG')
        return body

    def log_message(self, format, *args):
        """Quiet: no line per request (the start line says where the page is)."""


class DrawingServer(http.server.ThreadingHTTPServer):
    """The page's server: ``reader`` (a Reader) answers it, ``say`` reports a bug in a line."""

    daemon_threads = True
    request_queue_size = 64   # connections waiting to be accepted (the default, 5, drops some)

    def __init__(self, address, reader, say=None):
        self.address_family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
        self.reader, self.page = reader, PAGE.read_bytes()
        self.say = say or (lambda line: print(line, file=sys.stderr))
        super().__init__(address, Handler)
        host, port = self.server_address[:2]
        self.url = 'http://%s:%d/' % ('[%s]' % host if ':' in host else host, port)

    def handle_error(self, request, client_address):
        """A client gone mid-answer is no news; anything else one line, no traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            self.say('drawing page: %s from %s: %s'
                     % (type(error).__name__, client_address[0], error))


def add_serve_flags(parser):
    group = parser.add_argument_group('drawing page')
    group.add_argument('--serve', action='store_true',
                       help='serve a page to draw digits on and classify them as you draw')
    group.add_argument('--port', default=8000,
                       type=cli.checked_type(int, lambda n: 0 <= n <= 65535, 'a port, 0 to 65535'),
                       help='the port to serve on (default: %(default)s; 0: any free one)')
    group.add_argument('--host', default='127.0.0.1',
                       help='the address (default: %(default)s: only this computer; 0.0.0.0: any)')


def serve_main(args, net):
    """Serve the page with ``net`` until Ctrl-C or SIGTERM (0); 1 if it cannot listen."""
    reader = Reader(net)
    try:
        server = DrawingServer((args.host, args.port), reader)
    except OSError as e:
        where = '%s port %d' % (args.host, args.port)
        print('error: %s is in use; choose another with --port' % where
              if e.errno == errno.EADDRINUSE else
              'error: cannot serve on %s: %s' % (where, e.strerror or e), file=sys.stderr)
        return 1
    try:
        with signals.stop_requests() as early:   # a Ctrl-C while the checkpoint loaded
            pass
        # Ctrl-C ends serve_forever at once (scripts hold SIGINT: signals.exit_quietly).
        with contextlib.suppress(KeyboardInterrupt), \
                signals.stop_signals_to(signal.default_int_handler):
            if not early:
                print('serving on %s (Ctrl-C to stop)' % server.url, flush=True)
                server.serve_forever()
    finally:
        server.server_close()
        reader.close()
    print('stopped serving %s' % server.url, file=sys.stderr)
    return 0
