"""The drawing page with every layer: the answer's time server side (goal: median < 100 ms),
a step slider's move drawn in the browser (goal: < 300 ms), and the snapshots' disk cost.

    python bench/bench_drawing_page.py --checkpoint_dir train_data/fast [--requests 100] [--browser]

In this process, the page's Reader answers a 280x280 PNG (test digit 0 traced) with every
layer and its JSON, as a new drawing and as the same one at another step (a slider move),
at the checkpoint's step and step 0. --browser: Chromium moves the slider on the page of
a ``classify.py --serve`` between its ends; the page's clock times each. Disk: a full
expert run's snapshots are one snapshot's bytes times the 7 steps it keeps.
"""

import io
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image, ImageDraw

import common
import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, drawing_page

PAD, PEN = 280, 18          # the page's canvas and pen (drawing_page.html)


def traced(digit):
    """A PNG of an MNIST digit as the browser test draws it: each row's ink, one stroke."""
    image, cell = Image.new('RGB', (PAD, PAD), 'white'), PAD / 28
    pen = ImageDraw.Draw(image)
    for r, row in enumerate(digit.reshape(28, 28) > 0.5):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            y, ends = (r + 0.5) * cell, ((a + 0.5) * cell, (b - 0.5) * cell)
            pen.line([(ends[0], y), (ends[1], y)], fill='black', width=PEN)
            for x in ends:
                pen.ellipse([x - PEN / 2, y - PEN / 2, x + PEN / 2, y + PEN / 2], fill='black')
    image.save(out := io.BytesIO(), 'PNG')
    return out.getvalue()


def summary(seconds):
    ms = [round(float(np.percentile(seconds, q)) * 1000, 1) for q in (50, 90, 100)]
    return dict(zip(('median_ms', 'p90_ms', 'max_ms'), ms), n=len(seconds))


def server_side(reader, body, steps, requests):
    """{'new drawing at step N' ...: summary} of Reader.classify plus json.dumps."""
    times = {}
    for new, step in ((new, step) for new in (True, False) for step in steps):
        seconds = []
        for n in range(requests + 2):       # the first two open the step's network
            if new:
                drawing_page.prepare.cache_clear()
            start = time.perf_counter()
            size = len(json.dumps(reader.classify(body, step=step, pad=True), separators=(',', ':')))
            seconds.append(time.perf_counter() - start)
        times['%s at step %d' % ('new drawing' if new else 'slider move', step)] = dict(
            summary(seconds[2:]), json_kb=size // 1024)
    return times


def slider_moves(checkpoint_dir, moves):
    """Seconds from each slider move to every layer drawn, as the page measures them."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    server = subprocess.Popen([sys.executable, common.REPO_ROOT + '/classify.py', '--serve',
                               '--port', '0', '--checkpoint_dir', checkpoint_dir],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--window-size=1300,1000',
                 '--user-data-dir=' + tempfile.mkdtemp()):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
    wait = """const [sent, done] = [arguments[0].dataset.sent, arguments[1]]; const check = () =>
              document.body.dataset.answered === sent ? done() : setTimeout(check, 5); check();"""
    try:
        driver.set_script_timeout(60)
        driver.get(server.stdout.readline().split()[2])
        pad, slider, times = driver.find_element('id', 'pad'), driver.find_element('id', 'step'), []
        ActionChains(driver, duration=5).move_to_element_with_offset(pad, 0, -80) \
            .click_and_hold().move_by_offset(0, 160).release().perform()
        driver.execute_async_script(wait, pad)
        for n in range(moves + 2):          # the first two open the snapshots' networks
            slider.send_keys(Keys.HOME if n % 2 == 0 else Keys.END)
            driver.execute_async_script(wait, pad)
            times.append(float(driver.execute_script('return document.body.dataset.ms')) / 1000)
        return times[2:]
    finally:
        driver.quit()
        server.terminate()
        server.wait()


def disk(checkpoint_dir):
    where = checkpoints.snapshot_dir(checkpoint_dir)
    one = sum(os.path.getsize(os.path.join(where, n)) for n in os.listdir(where)) / len(
        checkpoints.snapshot_steps(checkpoint_dir))
    count = sum(checkpoints.snapshot_due(s, 20000) for s in range(20001))
    return {'one_mb': round(one / 1e6, 2), 'full_run_count': count,
            'full_run_mb': round(count * one / 1e6, 1)}


def main():
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint_dir', required=True, help='a trained run with snapshots')
    p.add_argument('--requests', type=cli.positive_int, default=100, help='answers per row, '
                   'and slider moves (default: %(default)s)')
    p.add_argument('--browser', action='store_true', help='also move the slider in Chromium')
    args = p.parse_args()
    load = common.warn_if_busy('bench_drawing_page')
    body = traced(mnist_data.read_data_sets(common.DATA_DIR).test.images[0])
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=args.checkpoint_dir,
                                     precision='fp32') as net:
        answers = server_side(drawing_page.Reader(net), body, [0, net.step], args.requests)
    print('the answer with every layer, server side (Reader.classify + JSON):')
    for name, s in answers.items():
        print('  %-24s median %6.1f ms  p90 %6.1f ms  max %6.1f ms  (%d kB of JSON)'
              % (name, s['median_ms'], s['p90_ms'], s['max_ms'], s['json_kb']))
    moves = args.browser and summary(slider_moves(args.checkpoint_dir, args.requests))
    if moves:
        print('a slider move, drawn in Chromium: median %.1f ms  p90 %.1f ms  max %.1f ms'
              % (moves['median_ms'], moves['p90_ms'], moves['max_ms']))
    cost = disk(args.checkpoint_dir)
    print('snapshots: %(one_mb)s MB each; a full expert run keeps %(full_run_count)d: '
          '%(full_run_mb)s MB' % cost)
    common.write_report('drawing_page', load, requests=args.requests, answers=answers,
                        slider=moves, disk=cost)


if __name__ == '__main__':
    main()
