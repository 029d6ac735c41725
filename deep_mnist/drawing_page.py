"""``classify.py --serve``: a local page to draw a digit on and watch the network read it.

The page (drawing_page.html, beside this file, all its script and style inline) sends
each drawing as a PNG to ``POST /classify``. The server puts it through the same
preparation as a photo (handwriting.load_image and prepare) and the same predict
function as deep_cnn.py's test accuracy, and answers with JSON:

    digit          the most probable digit
    probabilities  the ten probabilities
    input          the 28x28 input the network read, rows of grey levels (1 ink, 0 paper)
    conv1          conv1's 32 feature maps (28x28, after the ReLU) as base64 PNGs, each
                   on its own scale from 0 like the visualiser's: white 0, black its maximum

or, for a request it cannot answer, a 4xx and ``{"error": "one line"}``.

The server is the standard library's ThreadingHTTPServer: one page and one JSON
endpoint on 127.0.0.1 need no framework, and the page then needs nothing installed.
"""

import base64
import errno
import http.server
import io
import json
import pathlib
import socket
import sys
import time
import urllib.parse

import numpy as np
from PIL import Image

from deep_mnist import cli, figures, handwriting, signals

PAGE = pathlib.Path(__file__).with_name('drawing_page.html')
DEFAULT_HOST = '127.0.0.1'
DEFAULT_PORT = 8000
MAX_BODY = 4 * 1024 * 1024    # a 280x280 drawing is a few kB; a photo of a page fits too
LINGER_BYTES = 64 * 1024 * 1024   # read and dropped after a 413, so the client sees it
LINGER_SECONDS = 2.0
READ_TIMEOUT = 30             # seconds a client may take to send its request
CONV1_LAYER = 'h_conv1'
PORT = cli.checked_type(int, lambda n: 0 <= n <= 65535, 'a port, 0 to 65535')
# The page loads nothing from elsewhere: the browser itself holds it to that.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'")


class RequestError(Exception):
    """A request the server answers with a 4xx: ``status`` and a one-line ``reason``."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status, self.reason = status, reason


def png_base64(gray):
    """A 2-D array in [0, 1] (0 white, 1 black, the figures' gray_r) as a base64 PNG."""
    pixels = np.round((1 - np.clip(gray, 0, 1)) * 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels, 'L').save(out, 'PNG', compress_level=1)
    return base64.b64encode(out.getvalue()).decode('ascii')


def classifier(net):
    """``classify(image_bytes) -> dict`` (the JSON above) with ``net``, a restored
    checkpoint (checkpoints.open_checkpoint). RequestError for an image it cannot read
    (415) or in which it finds no digit (422)."""
    def classify(image_bytes):
        try:
            image = handwriting.load_image(io.BytesIO(image_bytes))
        except handwriting.HandwritingError as e:
            raise RequestError(415, str(e)) from None
        try:
            prepared = handwriting.prepare(image)
        except handwriting.HandwritingError as e:
            raise RequestError(422, str(e)) from None
        images = prepared.input[np.newaxis]
        probabilities = net.predict(images)[0]
        maps = net.run([CONV1_LAYER], images)[CONV1_LAYER][0]    # 28 x 28 x 32
        return {
            'digit': int(np.argmax(probabilities)),
            'probabilities': [round(float(p), 6) for p in probabilities],
            'input': np.round(prepared.input.reshape(28, 28), 3).tolist(),
            'conv1': [png_base64(figures.from_zero(maps[:, :, k]))
                      for k in range(maps.shape[-1])],
        }
    return classify


class Handler(http.server.BaseHTTPRequestHandler):
    """GET / is the page; POST /classify a drawing; anything else a 4xx."""

    server_version = 'deep-mnist-drawing-page'
    timeout = READ_TIMEOUT
    routes = {'/': ('GET', 'HEAD'), '/index.html': ('GET', 'HEAD'), '/classify': ('POST',)}

    def route(self):
        """The path of an allowed request; RequestError (404, 405) otherwise."""
        path = urllib.parse.urlsplit(self.path).path
        if path not in self.routes:
            shown = path if len(path) <= 80 else path[:77] + '...'
            raise RequestError(404, 'no such page: %s (the page is at /)' % shown)
        if self.command not in self.routes[path]:
            allowed = ', '.join(self.routes[path])
            raise RequestError(405, '%s is not allowed on %s (only %s)'
                               % (self.command, path, allowed))
        return path

    def do_GET(self):
        self.answer(self.page)

    def do_HEAD(self):
        self.answer(self.page, head=True)

    def do_POST(self):
        self.answer(self.drawing)

    do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_POST   # all refused by route()

    def answer(self, respond, head=False):
        """Send respond()'s (status, content type, body); a RequestError as JSON."""
        headers = {}
        try:
            self.route()
            status, kind, body = respond()
        except RequestError as e:
            status, kind, body = e.status, 'application/json', self.error_body(e.reason)
            if e.status == 405:
                headers['Allow'] = ', '.join(self.routes[urllib.parse.urlsplit(self.path).path])
        except Exception as e:      # a bug: one line here, the client gets a 500
            self.server.say('drawing page: %s on %s: %s' % (type(e).__name__, self.path, e))
            status, kind, body = 500, 'application/json', self.error_body('internal error')
        self.send_response(status)
        self.send_header('Content-Type', kind)
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Cache-Control', 'no-store')
        self.send_header('X-Content-Type-Options', 'nosniff')
        if kind.startswith('text/html'):
            headers['Content-Security-Policy'] = CSP
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if not head:
            self.wfile.write(body)

    @staticmethod
    def error_body(reason):
        return json.dumps({'error': reason}).encode()

    def page(self):
        return 200, 'text/html; charset=utf-8', self.server.page

    def drawing(self):
        body = self.read_body()
        result = self.server.classify(body)
        return 200, 'application/json', json.dumps(result, separators=(',', ':')).encode()

    def read_body(self):
        """The request's body, its length checked from the header before reading."""
        if 'chunked' in self.headers.get('Transfer-Encoding', '').lower():
            self.close_connection = True
            raise RequestError(411, 'send the image with a Content-Length, not chunked')
        try:
            length = int(self.headers.get('Content-Length', ''))
        except ValueError:
            self.close_connection = True
            raise RequestError(411, 'a Content-Length header is needed') from None
        if length < 0:
            self.close_connection = True
            raise RequestError(400, 'a negative Content-Length')
        if length > MAX_BODY:
            self.linger(length)
            raise RequestError(413, 'the image is %d bytes; at most %d (%d MB) are read'
                               % (length, MAX_BODY, MAX_BODY // (1024 * 1024)))
        if length == 0:
            raise RequestError(400, 'an empty body: send the drawing as a PNG')
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            raise RequestError(400, 'the body ended after %d of %d bytes' % (len(body), length))
        return body

    def linger(self, length):
        """Drop what the client is still sending of a refused body (bounded in bytes and
        time), so that it reads the 413 rather than a reset connection."""
        self.close_connection = True
        left, deadline = min(length, LINGER_BYTES), time.monotonic() + LINGER_SECONDS
        self.connection.settimeout(0.2)
        try:
            while left > 0 and time.monotonic() < deadline:
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass

    def log_message(self, format, *args):
        """Quiet: no line per request (the start line says where the page is)."""


class DrawingServer(http.server.ThreadingHTTPServer):
    """The page's server: ``classify`` answers drawings, ``say`` reports a bug in a line."""

    daemon_threads = True
    request_queue_size = 64   # connections waiting to be accepted (the default, 5, drops some)

    def __init__(self, address, classify, say=None):
        host = address[0]
        if ':' in host:
            self.address_family = socket.AF_INET6
        self.classify = classify
        self.page = PAGE.read_bytes()
        self.say = say or (lambda line: print(line, file=sys.stderr))
        super().__init__(address, Handler)

    def handle_error(self, request, client_address):
        """A client gone mid-answer is no news; anything else one line, no traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            self.say('drawing page: %s from %s: %s'
                     % (type(error).__name__, client_address[0], error))

    @property
    def url(self):
        host, port = self.server_address[:2]
        return 'http://%s:%d/' % ('[%s]' % host if ':' in host else host, port)


def add_serve_flags(parser):
    """--serve, --port, --host: classify.py's drawing page."""
    group = parser.add_argument_group('drawing page')
    group.add_argument('--serve', action='store_true',
                       help='serve a page to draw digits on and classify them as you draw')
    group.add_argument('--port', type=PORT, default=DEFAULT_PORT,
                       help='the port to serve on (default: %(default)s; 0: any free one)')
    group.add_argument('--host', default=DEFAULT_HOST,
                       help='the address to serve on (default: %(default)s, this computer '
                            'only; 0.0.0.0 lets other computers in)')


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def serve_main(args, net):
    """Serve the drawing page with ``net`` (a restored checkpoint) on ``args.host`` and
    ``args.port`` until Ctrl-C or SIGTERM; the exit code: 0 when stopped so (the way to
    stop it), 1 when it cannot listen (the port in use, a host it cannot bind)."""
    try:
        server = DrawingServer((args.host, args.port), classifier(net))
    except OSError as e:
        where = '%s port %d' % (args.host, args.port)
        if e.errno == errno.EADDRINUSE:
            print('error: %s is in use; choose another with --port' % where, file=sys.stderr)
        else:
            print('error: cannot serve on %s: %s' % (where, e.strerror or e), file=sys.stderr)
        return 1
    try:
        with signals.stop_requests() as early:   # a Ctrl-C while the checkpoint loaded
            pass
        if not early:
            print('serving on %s (Ctrl-C to stop)' % server.url, flush=True)
            # Ctrl-C ends serve_forever at once (scripts hold SIGINT: signals.exit_quietly).
            with signals.stop_signals_to(_interrupt):
                server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    print('stopped serving %s' % server.url, file=sys.stderr)
    return 0
