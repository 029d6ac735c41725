"""The drawing page (classify.py --serve) in a real headless Chromium, driven by Selenium,
with a trained `fast` checkpoint behind it: strokes drawn on the canvas are read as the
digit they are, the page shows ten probabilities, the 28x28 input and conv1's maps, and
bad requests get their 4xx while the server keeps serving.

Chromium and chromedriver come from Debian (apt-get install chromium chromium-driver;
.ci/run installs them). Without them the tests skip, except under CI (CI set), where
they fail: CI must run them."""

import base64
import http.client
import io
import json
import os
import shutil
import socket
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request

import numpy as np
import pytest
from PIL import Image, ImageDraw

import deep_cnn
import mnist_data
from conftest import REPO_ROOT, handles_sigterm_soon, run_script
from deep_mnist import checkpoints, drawing_page, handwriting

pytestmark = pytest.mark.long

PAD = 280                   # the canvas's own pixels (drawing_page.html)
PEN = 18                    # its pen's width
TRACED = [0, 1]             # MNIST test digits traced on the canvas: a 7 and a 2
MIN_ACCURACY = 0.97         # the short fast run's test accuracy (0.99 measured)
WAIT = 30                   # seconds for the page to answer a stroke (under 0.1 s measured)


# --- the browser ---------------------------------------------------------------------

def find_browser():
    """(chromium, chromedriver) paths: $CHROMIUM and $CHROMEDRIVER, Debian's packages,
    or a Chrome and its driver on PATH (GitHub's Ubuntu runners have those); None, None."""
    def first(*names, path=None):
        return next(filter(None, (shutil.which(n, path=path) for n in names if n)), None)
    browser = first(os.environ.get('CHROMIUM'), 'chromium', 'google-chrome', 'chromium-browser')
    driver = (first(os.environ.get('CHROMEDRIVER'), 'chromedriver')
              or first('chromedriver', path=os.environ.get('CHROMEWEBDRIVER') or os.devnull))
    return (browser, driver) if browser and driver else (None, None)


@pytest.fixture(scope='module')
def browser(tmp_path_factory):
    """A headless Chromium under Selenium, its profile fresh, nothing fetched from outside."""
    chromium, chromedriver = find_browser()
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        chromium = None
    if not chromium:
        why = ('the drawing page test needs Chromium, chromedriver and selenium: '
               'apt-get install chromium chromium-driver; pip install -e ".[test]"')
        if os.environ.get('CI'):
            pytest.fail(why + ' (CI is set: this test must run)')
        pytest.skip(why)
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
                 '--no-first-run', '--disable-background-networking',
                 '--disable-component-update', '--disable-sync',
                 '--disable-dev-shm-usage', '--window-size=1100,860',
                 '--user-data-dir=%s' % tmp_path_factory.mktemp('chromium-profile')):
        options.add_argument(flag)
    # The driver named, and Selenium Manager told it is offline: nothing is downloaded.
    os.environ.setdefault('SE_OFFLINE', 'true')
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_script_timeout(WAIT)
    yield driver
    driver.quit()


# --- the server, with a trained network ------------------------------------------------

@pytest.fixture(scope='module')
def fast_checkpoint(fast_classifier, data_dir):
    """conftest's shared short `fast` run, checked good enough to read drawings."""
    accuracy = checkpoints.checkpoint_test_accuracy(deep_cnn.deepnn, str(fast_classifier),
                                                    data_dir)
    assert accuracy >= MIN_ACCURACY
    return fast_classifier


@pytest.fixture(scope='module')
def net(fast_checkpoint):
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=str(fast_checkpoint),
                                     precision='fp32') as net:
        yield net


@pytest.fixture(scope='module')
def server(net):
    """The drawing page's server on a free port of 127.0.0.1, in a thread; the bug lines
    it says are kept in ``server.said``."""
    said = []
    server = drawing_page.DrawingServer(('127.0.0.1', 0), drawing_page.Reader(net),
                                        say=said.append)
    server.said = said
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


def request(server, method, path, body=None, headers=None):
    """(status, headers, body) of one request to the server."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=WAIT)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        reply = connection.getresponse()
        return reply.status, dict(reply.getheaders()), reply.read()
    finally:
        connection.close()


def png(image):
    out = io.BytesIO()
    image.save(out, 'PNG')
    return out.getvalue()


def bar_png():
    """A vertical bar drawn as the page draws it: black on white, 280x280."""
    image = Image.new('RGB', (PAD, PAD), 'white')
    ImageDraw.Draw(image).line([(140, 50), (140, 230)], fill='black', width=PEN)
    return png(image)


# --- drawing on the page -----------------------------------------------------------

def open_page(browser, server):
    browser.get(server.url)
    return browser.find_element('id', 'pad')


def draw(browser, pad, strokes):
    """Draw ``strokes`` (lists of (x, y) in the pad's 280 pixels) with the mouse, then
    wait for the page to show its answer to the last one; that answer's stroke count."""
    from selenium.webdriver.common.action_chains import ActionChains
    scale = pad.size['width'] / PAD
    before = int(pad.get_attribute('data-sent') or 0)
    actions = ActionChains(browser, duration=5)
    for stroke in strokes:
        # Offsets are from the element's centre, in CSS pixels.
        points = [(round((x - PAD / 2) * scale), round((y - PAD / 2) * scale)) for x, y in stroke]
        actions.move_to_element_with_offset(pad, *points[0]).click_and_hold()
        for (x0, y0), (x1, y1) in zip(points, points[1:]):
            actions.move_by_offset(x1 - x0, y1 - y0)
        actions.release()
    actions.perform()
    sent = int(pad.get_attribute('data-sent'))
    assert sent == before + len(strokes)
    answered = browser.execute_async_script("""
        const [sent, done] = arguments;
        const check = () => document.body.dataset.answered === String(sent)
            ? done(sent) : setTimeout(check, 20);
        check();""", sent)
    return answered


def shown(browser):
    """What the page shows: digit text, the ten probabilities, the status line, the 28x28
    input's grey levels (from its canvas) and the conv1 images' sizes."""
    return browser.execute_script("""
        const input = document.getElementById('input').getContext('2d').getImageData(0, 0, 28, 28).data;
        const grey = [];
        for (let i = 0; i < input.length; i += 4) grey.push(input[i]);
        return {
            digit: document.getElementById('digit').textContent,
            probabilities: [...document.querySelectorAll('#bars .track')]
                .map(t => t.dataset.probability === undefined ? null : Number(t.dataset.probability)),
            percents: [...document.querySelectorAll('#bars .pct')].map(p => p.textContent),
            status: document.getElementById('status').textContent,
            input: grey,
            layers: Object.fromEntries(['h_conv1', 'h_pool1', 'h_conv2', 'h_pool2', 'h_fc1'].map(
                name => [name, [...document.querySelectorAll('#' + name + ' canvas')]
                    .map(c => [c.width, c.height])])),
            step: document.body.dataset.step,
        };""")


def ink_runs(image, threshold=0.5):
    """Each row's runs of ink in a 28x28 MNIST image, as strokes across the 280 pad."""
    ink = image.reshape(28, 28) > threshold
    cell = PAD / 28
    strokes = []
    for r in range(28):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], ink[r].astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            y = (r + 0.5) * cell
            strokes.append([((start + 0.5) * cell, y), ((stop - 0.5) * cell, y)])
    return strokes


def assert_answer(seen, digit):
    assert seen['digit'] == str(digit), seen['status']
    probabilities = seen['probabilities']
    assert len(probabilities) == 10 and None not in probabilities
    assert sum(probabilities) == pytest.approx(1, abs=1e-3)
    assert max(probabilities) == probabilities[digit]
    assert seen['percents'][digit] == '%.1f %%' % (100 * probabilities[digit])
    grey = np.array(seen['input']).reshape(28, 28)
    ink = grey > 128
    assert 30 < ink.sum() < 400                       # a digit's worth of lit pixels
    # Placed as MNIST's digits are: the centre of mass at the frame's centre.
    rows, cols = np.indices(grey.shape)
    centre = (rows * grey).sum() / grey.sum(), (cols * grey).sum() / grey.sum()
    assert centre == pytest.approx((14, 14), abs=1)
    assert seen['layers'] == {'h_conv1': [[28, 28]] * 32, 'h_pool1': [[14, 14]] * 32,
                              'h_conv2': [[14, 14]] * 64, 'h_pool2': [[7, 7]] * 64,
                              'h_fc1': [[32, 32]]}


# --- the tests -----------------------------------------------------------------------

def test_a_vertical_bar_is_read_as_one(browser, server):
    pad = open_page(browser, server)
    assert browser.find_element('id', 'digit').text == '?'
    draw(browser, pad, [[(140, 50), (140, 140), (140, 230)]])
    seen = shown(browser)
    assert_answer(seen, 1)
    assert re.match(r'Step 300: read in \d+ ms\. ', seen['status']), seen['status']
    # A bar fitted into 20x20 keeping its aspect: 20 rows tall, a few columns wide.
    grey = np.array(seen['input']).reshape(28, 28)
    rows, cols = np.nonzero(grey > 128)
    assert rows.max() - rows.min() >= 17
    assert cols.max() - cols.min() <= 6


@pytest.mark.parametrize('index', TRACED)
def test_a_traced_mnist_test_digit_is_read_as_its_label(browser, server, data_dir,
                                                        tmp_path, index):
    test = mnist_data.read_data_sets(data_dir).test
    pad = open_page(browser, server)
    draw(browser, pad, ink_runs(test.images[index]))
    assert_answer(shown(browser), int(test.labels[index]))
    browser.save_screenshot(str(tmp_path / 'drawing_page.png'))


def test_clear_empties_the_pad_and_the_answer(browser, server):
    pad = open_page(browser, server)
    draw(browser, pad, [[(140, 50), (140, 230)]])
    assert shown(browser)['digit'] == '1'
    browser.find_element('id', 'clear').click()
    seen = shown(browser)
    assert seen['digit'] == '?'
    assert seen['probabilities'] == [None] * 10
    assert not any(seen['input'])
    assert seen['layers'] == {name: [] for name in drawing_page.LAYERS}
    ink = browser.execute_script("""
        const pad = document.getElementById('pad');
        const data = pad.getContext('2d').getImageData(0, 0, pad.width, pad.height).data;
        let dark = 0;
        for (let i = 0; i < data.length; i += 4) dark += data[i] < 128;
        return dark;""")
    assert ink == 0


def test_the_page_loads_nothing_from_elsewhere(browser, server):
    open_page(browser, server)
    sources = browser.execute_script("""
        return [...document.querySelectorAll('[src], link[href]')]
            .map(el => el.getAttribute('src') || el.getAttribute('href'));""")
    assert all(s.startswith('data:') for s in sources), sources
    status, headers, _ = request(server, 'GET', '/')
    assert status == 200
    assert "default-src 'none'" in headers['Content-Security-Policy']


def test_bad_uploads_from_the_page_get_their_4xx_and_the_page_still_works(browser, server):
    pad = open_page(browser, server)
    replies = browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const post = body => fetch('/classify', {method: 'POST', body})
            .then(async r => [r.status, (await r.json()).error]);
        Promise.all([post(new Blob(['this is not an image'])),
                     post(new Blob([new Uint8Array(6 * 1024 * 1024)]))]).then(done);""")
    assert replies[0] == [415, 'not an image']
    assert replies[1][0] == 413 and 'at most' in replies[1][1]
    draw(browser, pad, [[(140, 50), (140, 230)]])
    assert shown(browser)['digit'] == '1'


# --- the server without the browser ------------------------------------------------

def test_the_answer_is_the_photo_preparation_and_the_predict_function(server, net):
    """The same preparation as a photo (handwriting), the same predict (checkpoints)."""
    drawing = bar_png()
    status, headers, body = request(server, 'POST', '/classify', drawing,
                                    {'Content-Type': 'image/png'})
    assert status == 200 and headers['Content-Type'] == 'application/json'
    answer = json.loads(body)
    prepared = handwriting.prepare(handwriting.load_image(io.BytesIO(drawing)))
    np.testing.assert_allclose(np.array(answer['input']).ravel(), prepared.input, atol=5e-4)
    expected = net.predict(prepared.input[np.newaxis])[0]
    np.testing.assert_allclose(answer['probabilities'], expected, atol=1e-5)
    assert answer['digit'] == int(expected.argmax()) == 1
    maps = [np.asarray(Image.open(io.BytesIO(base64.b64decode(m)))) for m in answer['conv1']]
    assert len(maps) == 32 and all(m.shape == (28, 28) for m in maps)
    assert any(m.min() == 0 for m in maps)            # some map responds (black = its max)


@pytest.mark.parametrize('method, path, body, headers, status, reason', [
    ('POST', '/classify', b'not an image at all', {}, 415, 'not an image'),
    ('POST', '/classify', b'', {}, 400, 'empty body'),
    ('POST', '/classify', png(Image.new('RGB', (280, 280), 'white')), {}, 422, 'no ink'),
    ('GET', '/nowhere', None, {}, 404, 'no such page'),
    ('GET', '/' + 'x' * 5000, None, {}, 404, 'xxx...'),
    ('GET', '/classify', None, {}, 405, 'only POST'),
    ('POST', '/', b'x', {}, 405, 'only GET'),
    ('DELETE', '/classify', None, {}, 405, 'not allowed'),
])
def test_a_bad_request_gets_a_4xx_with_a_one_line_reason(server, method, path, body,
                                                         headers, status, reason):
    got, headers, answer = request(server, method, path, body, headers)
    assert got == status
    error = json.loads(answer)['error']
    assert reason in error and '\n' not in error and len(error) < 200
    assert request(server, 'GET', '/')[0] == 200      # and it keeps serving
    assert server.said == []


def test_an_oversized_body_is_refused_by_its_length_before_it_is_read(server):
    """Only the headers are sent: a server that read the body would wait for it."""
    connection = socket.create_connection(server.server_address[:2], timeout=WAIT)
    with connection:
        connection.sendall(b'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n'
                           b'Content-Length: %d\r\n\r\n' % (1024 ** 3))
        reply = connection.makefile('rb').read()
    assert reply.startswith(b'HTTP/1.0 413 ')
    assert b'at most 4194304' in reply
    assert request(server, 'POST', '/classify', bar_png())[0] == 200


def test_a_request_without_a_length_gets_411(server):
    connection = socket.create_connection(server.server_address[:2], timeout=WAIT)
    with connection:
        connection.sendall(b'POST /classify HTTP/1.1\r\nHost: x\r\n'
                           b'Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n')
        reply = connection.makefile('rb').read()
    assert reply.startswith(b'HTTP/1.0 411 ')
    assert request(server, 'GET', '/?from=a-link')[0] == 200


# --- classify.py --serve ------------------------------------------------------------

def serving(checkpoint_dir):
    """``classify.py --serve`` on any free port, as a learner starts it."""
    return subprocess.Popen([sys.executable, str(REPO_ROOT / 'classify.py'), '--serve',
                             '--port', '0', '--checkpoint_dir', str(checkpoint_dir)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


@pytest.mark.skipif(sys.platform == 'win32', reason='Ctrl-C cannot be sent to a child on Windows')
def test_ctrl_c_while_the_checkpoint_loads_ends_serve_at_once(fast_checkpoint):
    proc = serving(fast_checkpoint)
    handles_sigterm_soon(proc)          # its handlers are in place; TensorFlow still loads
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and 'serving on' not in out, (out, err)
    assert err.strip().splitlines() == ['classify: interrupted']


@pytest.mark.skipif(sys.platform == 'win32', reason='Ctrl-C cannot be sent to a child on Windows')
def test_classify_serve_answers_and_stops_on_ctrl_c_with_one_line(fast_checkpoint):
    proc = serving(fast_checkpoint)
    try:
        first = proc.stdout.readline()      # after the checkpoint is restored
        url = re.fullmatch(r'serving on (http://127\.0\.0\.1:\d+/) \(Ctrl-C to stop\)\n', first)
        assert url, first
        with urllib.request.urlopen(url.group(1), timeout=WAIT) as reply:
            assert b'<canvas id="pad"' in reply.read()
        drawing = urllib.request.Request(url.group(1) + 'classify', data=bar_png(), method='POST')
        with urllib.request.urlopen(drawing, timeout=WAIT) as reply:
            assert json.load(reply)['digit'] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0
    assert 'Traceback' not in err
    assert err.strip().splitlines()[-1] == 'stopped serving %s' % url.group(1)


def test_classify_serve_on_a_port_in_use_says_so_in_one_line(fast_checkpoint):
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_script('classify.py', '--serve', '--port', port,
                          '--checkpoint_dir', fast_checkpoint)
    assert done.returncode == 1
    assert done.stdout == ''
    assert done.stderr.strip().splitlines()[-1] == (
        'error: 127.0.0.1 port %d is in use; choose another with --port' % port)
    assert 'Traceback' not in done.stderr


def test_a_bug_in_classify_is_a_500_and_one_line_and_the_server_goes_on():
    class Broken:
        def classify(self, *request):
            raise ValueError('a bug')
    said = []
    server = drawing_page.DrawingServer(('127.0.0.1', 0), Broken(), say=said.append)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        status, _, body = request(server, 'POST', '/classify', bar_png())
        assert status == 500 and json.loads(body) == {'error': 'internal error'}
        assert said == ['drawing page: ValueError on /classify: a bug']
        assert request(server, 'GET', '/')[0] == 200
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_many_drawings_at_once_are_all_answered(server):
    """Strokes from several pages at once: 32 connections opened together, all answered."""
    drawing = bar_png()
    head = (b'POST /classify HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n'
            % len(drawing))
    connections = [socket.create_connection(server.server_address[:2], timeout=WAIT)
                   for _ in range(32)]
    try:
        for connection in connections:
            connection.sendall(head + drawing)
        replies = [c.makefile('rb').read() for c in connections]
    finally:
        for connection in connections:
            connection.close()
    assert [r[:13] for r in replies] == [b'HTTP/1.0 200 '] * 32


# --- every layer, how a map was made, every snapshot ----------------------------------

def wait_for(browser, condition):
    """Wait until the JavaScript expression ``condition`` is true on the page."""
    deadline = time.monotonic() + WAIT
    while not browser.execute_script('return ' + condition):
        assert time.monotonic() < deadline, 'the page never got to: %s' % condition
        time.sleep(0.02)


def click_darkest_pixel(browser, layer, k):
    """Click map k of ``layer`` at its strongest pixel; that (row, column). The pointer goes
    to the whole viewport pixel nearest that pixel's centre: the maps' sizes are fractional."""
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    canvas = browser.find_elements('css selector', '#%s canvas' % layer)[k]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", canvas)
    r, c, x, y = browser.execute_script("""
        const canvas = arguments[0], data = canvas.getContext('2d')
            .getImageData(0, 0, canvas.width, canvas.height).data;
        let best = 0;
        for (let i = 0; i < data.length; i += 4) if (data[i] < data[best]) best = i;
        const r = Math.floor(best / 4 / canvas.width), c = (best / 4) % canvas.width;
        const box = canvas.getBoundingClientRect(), edge = canvas.clientLeft;
        const cell = (box.width - 2 * edge) / canvas.width;          // the maps are square
        return [r, c, Math.round(box.left + edge + (c + 0.5) * cell),
                Math.round(box.top + edge + (r + 0.5) * cell)];""",
                                        canvas)
    actions = ActionBuilder(browser)
    actions.pointer_action.move_to_location(x, y).click()
    actions.perform()
    return r, c


def explained(browser, step):
    """The explanation's numbers, once it is the one for ``step`` (after a slider move the
    page redraws it when that step's weights have come)."""
    wait_for(browser, "document.getElementById('held') !== null && document.querySelector("
                      "'#explain h2').textContent.includes('(step %s)')" % step)
    return browser.execute_script("return {...document.getElementById('explain').dataset};")


def move_slider(browser, key):
    pad = browser.find_element('id', 'pad')
    sent = int(pad.get_attribute('data-sent'))
    browser.find_element('id', 'step').send_keys(key)
    wait_for(browser, "document.body.dataset.answered === '%d'" % (sent + 1))


def test_every_layer_a_conv1_sum_and_the_step_slider_in_the_browser(browser, server, data_dir,
                                                                    tmp_path):
    from selenium.webdriver.common.keys import Keys
    test = mnist_data.read_data_sets(data_dir).test
    pad = open_page(browser, server)
    wait_for(browser, "document.body.dataset.steps === '0,100,300'")
    draw(browser, pad, ink_runs(test.images[0]))
    seen = shown(browser)
    assert_answer(seen, 7)
    assert seen['step'] == '300'
    browser.save_screenshot(str(tmp_path / '1-drawn.png'))
    # A conv1 map, clicked at its strongest pixel: filter, window, products, sum, ReLU.
    row, col = click_darkest_pixel(browser, 'h_conv1', 5)
    shown_sum = explained(browser, 300)
    assert (int(shown_sum['row']), int(shown_sum['col'])) == (row, col)
    assert float(shown_sum['value']) > 0
    assert float(shown_sum['sum']) == pytest.approx(float(shown_sum['value']), abs=1e-4)
    assert 'the same' in browser.find_element('id', 'explain').text
    browser.save_screenshot(str(tmp_path / '2-conv1-explained.png'))
    # Step 0: the untrained network reads the same drawing; the sum still holds.
    move_slider(browser, Keys.HOME)
    untrained = shown(browser)
    assert untrained['step'] == '0'
    assert untrained['probabilities'][7] < 0.5      # untrained: not yet a 7
    again = explained(browser, 0)
    assert float(again['sum']) == pytest.approx(float(again['value']), abs=1e-4)
    assert again['value'] != shown_sum['value']
    browser.save_screenshot(str(tmp_path / '3-step-0.png'))
    move_slider(browser, Keys.END)
    back = shown(browser)
    assert back['step'] == '300' and back['probabilities'] == seen['probabilities']
    browser.save_screenshot(str(tmp_path / '4-back-to-300.png'))
    # A conv2 map: its filter's 32 slices; an fc1 unit: the pooled maps feeding it most.
    conv2 = browser.find_elements('css selector', '#h_conv2 canvas')[3]
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", conv2)
    conv2.click()
    wait_for(browser, "document.querySelectorAll('#explain canvas').length === 32")
    click_darkest_pixel(browser, 'h_fc1', 0)
    wait_for(browser, "document.querySelectorAll('#explain canvas').length === 3")
    assert 'the pooled maps that feed it most' in browser.find_element('id', 'explain').text
    browser.save_screenshot(str(tmp_path / '5-fc1-unit.png'))


def classified(server, query=''):
    status, _, body = request(server, 'POST', '/classify' + query, bar_png())
    assert status == 200, body
    return json.loads(body)


def test_a_digit_drawn_to_three_edges_of_the_pad_is_read(server):
    # Read as a photo, its strokes look like a sheet's edges; the pad is paper alone.
    image = Image.new('RGB', (PAD, PAD), 'white')
    ImageDraw.Draw(image).line([(0, 8), (PAD - 8, 8), (120, PAD)], fill='black', width=PEN)
    with pytest.raises(handwriting.HandwritingError):
        handwriting.prepare(image)
    status, _, body = request(server, 'POST', '/classify?pad=1', png(image))
    assert status == 200, body
    answer = json.loads(body)
    assert answer['digit'] in range(10) and np.asarray(answer['input']).max() > 0.9
    assert request(server, 'POST', '/classify', png(image))[0] == 422   # sent as a photo


def test_a_photo_sent_without_pad_has_its_sheet_found(server):
    photo = (REPO_ROOT / 'examples' / '8_sheet_on_a_table.jpg').read_bytes()
    status, _, body = request(server, 'POST', '/classify', photo)
    assert status == 200, body
    prepared = handwriting.prepare(handwriting.load_image(io.BytesIO(photo)))
    assert prepared.sheet is not None
    np.testing.assert_allclose(np.array(json.loads(body)['input']).ravel(), prepared.input,
                               atol=5e-4)


def test_the_answer_has_every_layer_of_the_network_at_the_step_asked(server, net):
    assert json.loads(request(server, 'GET', '/steps')[2]) == {'steps': [0, 100, 300],
                                                               'step': 300}
    prepared = handwriting.prepare(handwriting.load_image(io.BytesIO(bar_png())))
    for step in (None, 0, 100):
        answer = classified(server, '' if step is None else '?step=%d' % step)
        assert answer['step'] == (300 if step is None else step)
        seen = net.at_step(answer['step'])
        try:
            expected = seen.run(['probabilities'] + list(drawing_page.LAYERS), prepared.input[None])
        finally:
            if seen is not net:
                seen.close()
        np.testing.assert_allclose(answer['probabilities'], expected['probabilities'][0], atol=1e-5)
        layers = answer['layers']
        for name in drawing_page.LAYERS[:-1]:        # one map per channel
            np.testing.assert_allclose(np.moveaxis(layers[name], 0, -1), expected[name][0],
                                       atol=5.1e-5, err_msg=name)
        np.testing.assert_allclose(np.ravel(layers['h_fc1']), expected['h_fc1'][0], atol=5.1e-5)
        assert len(answer['fc1_sources']) == 1024
        assert all(len(s) == drawing_page.SOURCES for s in answer['fc1_sources'])
    weights = json.loads(request(server, 'GET', '/weights?step=0')[2])
    np.testing.assert_array_equal(weights['W_conv1'], np.moveaxis(
        net.at_step(0).run(['W_conv1'])['W_conv1'][:, :, 0, :], -1, 0))
    assert np.shape(weights['W_conv2']) == (64, 32, 5, 5) and len(weights['b_conv1']) == 32


@pytest.mark.parametrize('method, path, reason', [
    ('POST', '/classify?step=5', 'no snapshot of step 5 (steps kept: 0, 100, 300)'),
    ('POST', '/classify?step=abc', "no snapshot of step 'abc'"),
    ('POST', '/classify?step=' + '9' * 5000, "no snapshot of step '9999"),
    ('GET', '/weights?step=-1', 'no snapshot of step -1'),
])
def test_an_unknown_step_gets_404_in_one_line(server, method, path, reason):
    status, _, body = request(server, method, path, bar_png() if method == 'POST' else None)
    assert status == 404
    error = json.loads(body)['error']
    assert reason in error and '\n' not in error and len(error) < 200
    assert classified(server)['digit'] == 1


def test_a_damaged_snapshot_is_named_skipped_and_the_page_goes_on(fast_checkpoint, tmp_path):
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(fast_checkpoint, ckpt)
    data = ckpt / 'snapshots/model.ckpt-100.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:1000])
    said = []
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=str(ckpt),
                                     precision='fp32') as fresh:
        reader = drawing_page.Reader(fresh, say=said.append)
        try:
            with pytest.raises(drawing_page.RequestError, match='snapshot of step 100 is damaged'):
                reader.classify(bar_png(), step=100)
            assert said == ['drawing page: skipped snapshot of step 100 is damaged (%s)'
                            % said[0].split('damaged (', 1)[1][:-1]]
            assert reader.steps == [0, 300]
            assert reader.classify(bar_png(), step=0)['step'] == 0
        finally:
            reader.close()


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as status:
        return int(re.search(r'VmRSS:\s+(\d+)', status.read()).group(1))


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='reads /proc')
def test_memory_stays_flat_over_2000_requests(fast_checkpoint):
    """classify.py --serve as a learner runs it: drawings at every step, and bad requests."""
    proc = serving(fast_checkpoint)
    try:
        url = proc.stdout.readline().split()[2]
        host, port = urllib.parse.urlsplit(url).netloc.split(':')
        server = type('Server', (), {'server_address': (host, int(port))})
        drawing = bar_png()
        asks = [('POST', '/classify?step=%d' % s, drawing) for s in (0, 100, 300)] + [
            ('POST', '/classify?step=7', drawing), ('POST', '/classify', b'not a png'),
            ('GET', '/steps', None), ('GET', '/nowhere', None), ('GET', '/weights?step=0', None)]
        sizes = []
        for n in range(2000):
            method, path, body = asks[n % len(asks)]
            assert request(server, method, path, body)[0] < 500
            if n in (399, 1999):
                sizes.append(rss_kb(proc.pid))
        assert sizes[1] - sizes[0] < 20 * 1024, sizes     # kB: flat after the warm-up
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=WAIT)


# --- several digits in a row ---------------------------------------------------------

def bars_png(xs):
    """Vertical bars at ``xs``, drawn as the page draws: a number of ones."""
    image = Image.new('RGB', (PAD, PAD), 'white')
    for x in xs:
        ImageDraw.Draw(image).line([(x, 80), (x, 200)], fill='black', width=PEN)
    return png(image)


def test_with_the_switch_the_drawing_is_read_as_a_number(server):
    drawing = bars_png([70, 210])
    status, _, body = request(server, 'POST', '/classify?number=1&digit=1', drawing)
    assert status == 200, body
    answer = json.loads(body)
    assert answer['number'] == '11' and answer['chosen'] == 1
    assert [d['digit'] for d in answer['digits']] == [1, 1]
    left, right = (d['box'] for d in answer['digits'])
    assert left[2] < right[0]                         # left to right, apart
    assert answer['probabilities'] == answer['digits'][1]['probabilities']
    prepared = handwriting.prepare_number(handwriting.load_image(io.BytesIO(drawing)))
    np.testing.assert_allclose(np.ravel(answer['input']), prepared.inputs[1], atol=1e-6)
    status, _, body = request(server, 'POST', '/classify?number=1&digit=2', drawing)
    assert status == 400 and json.loads(body)['error'] == 'no digit 2: the number has 2'
    assert 'number' not in classified(server)         # the switch off: one digit, as before


def test_the_several_digits_switch_on_the_page(browser, server, tmp_path):
    pad = open_page(browser, server)
    browser.find_element('id', 'several').click()
    draw(browser, pad, [[(70, 80), (70, 200)], [(210, 80), (210, 200)]])
    assert browser.execute_script('return document.body.dataset.number') == '11'
    buttons = browser.find_elements('css selector', '#number button')
    assert [b.text for b in buttons] == ['1', '1']
    sent = int(pad.get_attribute('data-sent'))
    buttons[1].click()                                 # the second digit's layers
    wait_for(browser, "document.body.dataset.answered === '%d'" % (sent + 1))
    assert 'chosen' in browser.find_elements('css selector', '#number button')[1].get_attribute('class')
    browser.save_screenshot(str(tmp_path / 'several-digits.png'))
