"""The drawing page's answer time: how long a stroke waits for its digit (goal: < 100 ms).

    python bench/bench_drawing_page.py --checkpoint_dir train_data/fast [--requests 100] [--browser]

Starts ``classify.py --serve --port 0`` as a learner does and POSTs drawings to it, one
at a time, each on a new connection as the page's fetch makes it: a vertical bar and an
MNIST test digit traced as strokes, 280x280 PNGs as the page's canvas sends them. Prints
the median, min, p90 and max round trip per drawing. Then, in this process with the same
checkpoint, where the time goes: reading the PNG, the preparation, the predict function,
conv1's maps, and the answer's PNGs and JSON. With --browser, also what a learner waits:
headless Chromium (Debian's chromium and chromium-driver) draws a bar on the page
--requests times, and the page's own clock gives the time from the stroke's end to its
answer drawn (canvas.toBlob, the POST, the bars, the input and the 32 maps).
"""

import argparse
import io
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np
from PIL import Image, ImageDraw

import common
import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, drawing_page, figures, handwriting

PAD, PEN = 280, 18          # the page's canvas and pen (drawing_page.html)


def png(image):
    out = io.BytesIO()
    image.save(out, 'PNG')
    return out.getvalue()


def bar():
    image = Image.new('RGB', (PAD, PAD), 'white')
    ImageDraw.Draw(image).line([(140, 50), (140, 230)], fill='black', width=PEN)
    return png(image)


def traced(digit):
    """An MNIST digit drawn as the browser test draws it: each row's ink, one stroke."""
    image = Image.new('RGB', (PAD, PAD), 'white')
    pen, cell = ImageDraw.Draw(image), PAD / 28
    ink = digit.reshape(28, 28) > 0.5
    for r, row in enumerate(ink):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        for start, stop in zip(edges[::2], edges[1::2]):
            y, x0, x1 = (r + 0.5) * cell, (start + 0.5) * cell, (stop - 0.5) * cell
            pen.line([(x0, y), (x1, y)], fill='black', width=PEN)
            for x in (x0, x1):
                pen.ellipse([x - PEN / 2, y - PEN / 2, x + PEN / 2, y + PEN / 2], fill='black')
    return png(image)


def summary(times):
    ms = sorted(1000 * t for t in times)
    return {'median_ms': round(statistics.median(ms), 1), 'min_ms': round(ms[0], 1),
            'p90_ms': round(ms[int(0.9 * (len(ms) - 1))], 1), 'max_ms': round(ms[-1], 1),
            'n': len(ms)}


def round_trips(drawings, requests, checkpoint_dir, browser):
    """{name: [seconds]} of POSTs to a real ``classify.py --serve``, drawings alternating;
    with ``browser``, also of strokes drawn on its page."""
    server = subprocess.Popen(
        [sys.executable, common.REPO_ROOT + '/classify.py', '--serve', '--port', '0',
         '--checkpoint_dir', checkpoint_dir],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        url = server.stdout.readline().split()[2] + 'classify'
        times = {name: [] for name in drawings}
        for n in range(requests + 2):
            for name, body in drawings.items():
                start = time.perf_counter()
                with urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=30) as r:
                    json.load(r)
                if n >= 2:                    # the first two warm TensorFlow up
                    times[name].append(time.perf_counter() - start)
        if browser:
            times['a bar drawn on the page'] = in_the_browser(url[:-len('classify')], requests)
        return times
    finally:
        server.terminate()
        server.wait()


def in_the_browser(url, strokes):
    """Seconds from each stroke's end to its answer on the page, as the page measures."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                 '--disable-background-networking', '--disable-component-update',
                 '--window-size=1100,860', '--user-data-dir=' + tempfile.mkdtemp()):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
    try:
        driver.set_script_timeout(30)
        driver.get(url)
        pad, times = driver.find_element('id', 'pad'), []
        for n in range(1, strokes + 3):
            driver.find_element('id', 'clear').click()
            ActionChains(driver, duration=5).move_to_element_with_offset(pad, 0, -80) \
                .click_and_hold().move_by_offset(0, 160).release().perform()
            driver.execute_async_script("""
                const [sent, done] = [arguments[0].dataset.sent, arguments[1]];
                const check = () => document.body.dataset.answered === sent
                    ? done() : setTimeout(check, 5);
                check();""", pad)
            if n > 2:
                times.append(float(driver.find_element('tag name', 'body')
                                   .get_attribute('data-ms')) / 1000)
        return times
    finally:
        driver.quit()


def breakdown(drawing, net, repeat):
    """Median seconds of each part of an answer, in this process."""
    parts = {'read PNG': [], 'prepare': [], 'predict': [], 'conv1 maps': [], 'PNGs + JSON': []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        image = handwriting.load_image(io.BytesIO(drawing))
        t1 = time.perf_counter()
        images = handwriting.prepare(image).input[np.newaxis]
        t2 = time.perf_counter()
        net.predict(images)
        t3 = time.perf_counter()
        maps = net.run([drawing_page.CONV1_LAYER], images)[drawing_page.CONV1_LAYER][0]
        t4 = time.perf_counter()
        json.dumps([drawing_page.png_base64(figures.from_zero(maps[:, :, k]))
                    for k in range(maps.shape[-1])])
        t5 = time.perf_counter()
        for part, seconds in zip(parts, np.diff([t0, t1, t2, t3, t4, t5])):
            parts[part].append(seconds)
    return {part: round(1000 * statistics.median(s), 2) for part, s in parts.items()}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint_dir', required=True, help='a trained checkpoint directory')
    p.add_argument('--requests', type=cli.positive_int, default=100,
                   help='POSTs per drawing (default: %(default)s)')
    p.add_argument('--browser', action='store_true',
                   help='also draw on the page in headless Chromium, --requests strokes')
    args = p.parse_args()
    load = common.warn_if_busy('bench_drawing_page')
    digit = mnist_data.read_data_sets(common.DATA_DIR).test.images[0]
    drawings = {'vertical bar': bar(), 'traced test digit 0 (a 7)': traced(digit)}

    trips = {name: summary(t) for name, t in
             round_trips(drawings, args.requests, args.checkpoint_dir, args.browser).items()}
    print('round trip to classify.py --serve, %d each:' % args.requests)
    print('%-28s %8s %8s %8s %8s' % ('drawing', 'median', 'min', 'p90', 'max'))
    for name, s in trips.items():
        print('%-28s %6.1f ms %5.1f ms %5.1f ms %5.1f ms'
              % (name, s['median_ms'], s['min_ms'], s['p90_ms'], s['max_ms']))

    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=args.checkpoint_dir) as net:
        parts = {name: breakdown(body, net, args.requests) for name, body in drawings.items()}
    print('\nwhere the time goes (median ms, in-process):')
    for name, split in parts.items():
        print('%-28s %s' % (name, ', '.join('%s %.1f' % item for item in split.items())))
    common.write_report('drawing_page', load, requests=args.requests, round_trip=trips,
                        breakdown_ms=parts)


if __name__ == '__main__':
    main()
