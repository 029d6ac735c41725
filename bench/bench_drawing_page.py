"""The drawing page with every layer: the answer's time server side (goal: median < 100 ms),
a step slider's move drawn in the browser (goal: < 300 ms), and the snapshots' disk cost.

    python bench/bench_drawing_page.py --checkpoint_dir train_data/fast [--requests 100] [--browser]

Server side, in this process: the drawing page's Reader answers a 280x280 PNG (a bar, and
an MNIST test digit traced as strokes) with every layer, at the checkpoint's step and at
step 0, JSON included. With --browser, headless Chromium (Debian's chromium and
chromium-driver) serves the page from ``classify.py --serve``, draws a digit, then moves
the step slider between its ends --requests times; the page's own clock gives the time
from the move to every layer drawn. Disk: the snapshots' bytes, and a full expert run's
(one snapshot's bytes times the steps snapshot_due keeps in 20000).
"""

import io
import json
import os
import statistics
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


def drawn(strokes):
    """A PNG of strokes (lists of (x, y)) as the page's pen draws them."""
    image = Image.new('RGB', (PAD, PAD), 'white')
    pen = ImageDraw.Draw(image)
    for stroke in strokes:
        pen.line(stroke, fill='black', width=PEN, joint='curve')
        for x, y in stroke[::len(stroke) - 1]:
            pen.ellipse([x - PEN / 2, y - PEN / 2, x + PEN / 2, y + PEN / 2], fill='black')
    out = io.BytesIO()
    image.save(out, 'PNG')
    return out.getvalue()


def traced(digit):
    """An MNIST digit as the browser test draws it: each row's ink, one stroke."""
    ink, cell, strokes = digit.reshape(28, 28) > 0.5, PAD / 28, []
    for r, row in enumerate(ink):
        edges = np.flatnonzero(np.diff(np.concatenate([[0], row.astype(int), [0]])))
        strokes += [[((a + 0.5) * cell, (r + 0.5) * cell), ((b - 0.5) * cell, (r + 0.5) * cell)]
                    for a, b in zip(edges[::2], edges[1::2])]
    return drawn(strokes)


def summary(seconds):
    ms = sorted(1000 * s for s in seconds)
    return {'median_ms': round(statistics.median(ms), 1), 'min_ms': round(ms[0], 1),
            'p90_ms': round(ms[int(0.9 * (len(ms) - 1))], 1), 'max_ms': round(ms[-1], 1),
            'n': len(ms)}


def server_side(reader, drawings, steps, requests):
    """{'drawing at step N': summary} of Reader.classify plus json.dumps, in this process."""
    times = {}
    for name, body in drawings.items():
        for step in steps:
            seconds = []
            for n in range(requests + 2):
                start = time.perf_counter()
                size = len(json.dumps(reader.classify(body, step=step), separators=(',', ':')))
                if n >= 2:                       # the first two open the step's network
                    seconds.append(time.perf_counter() - start)
            times['%s at step %d' % (name, step)] = dict(summary(seconds), json_kb=size // 1024)
    return times


def slider_moves(checkpoint_dir, moves):
    """Seconds from each slider move to every layer drawn, as the page measures them."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys
    server = subprocess.Popen(
        [sys.executable, common.REPO_ROOT + '/classify.py', '--serve', '--port', '0',
         '--checkpoint_dir', checkpoint_dir], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True)
    options = webdriver.ChromeOptions()
    options.binary_location = '/usr/bin/chromium'
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
                 '--window-size=1300,1000', '--user-data-dir=' + tempfile.mkdtemp()):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
    wait = """const [sent, done] = [arguments[0].dataset.sent, arguments[1]];
              const check = () => document.body.dataset.answered === sent ? done() : setTimeout(check, 5);
              check();"""
    try:
        driver.set_script_timeout(60)
        driver.get(server.stdout.readline().split()[2])
        pad, slider, times = driver.find_element('id', 'pad'), driver.find_element('id', 'step'), []
        ActionChains(driver, duration=5).move_to_element_with_offset(pad, 0, -80) \
            .click_and_hold().move_by_offset(0, 160).release().perform()
        driver.execute_async_script(wait, pad)
        for n in range(moves + 2):
            slider.send_keys(Keys.HOME if n % 2 == 0 else Keys.END)
            driver.execute_async_script(wait, pad)
            if n >= 2:
                times.append(float(driver.find_element('tag name', 'body')
                                   .get_attribute('data-ms')) / 1000)
        return times
    finally:
        driver.quit()
        server.terminate()
        server.wait()


def disk(checkpoint_dir):
    """The snapshots' bytes here, and a full expert run's (20000 steps)."""
    where = checkpoints.snapshot_dir(checkpoint_dir)
    sizes = [os.path.getsize(os.path.join(where, n)) for n in os.listdir(where)]
    count = sum(checkpoints.snapshot_due(s, 20000) for s in range(20001))
    one = sum(sizes) / len(checkpoints.snapshot_steps(checkpoint_dir))
    return {'here_mb': round(sum(sizes) / 1e6, 1), 'one_snapshot_mb': round(one / 1e6, 2),
            'full_expert_run_snapshots': count, 'full_expert_run_mb': round(count * one / 1e6, 1)}


def main():
    p = cli.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--checkpoint_dir', required=True, help='a trained run with snapshots')
    p.add_argument('--requests', type=cli.positive_int, default=100,
                   help='answers per drawing and step, and slider moves (default: %(default)s)')
    p.add_argument('--browser', action='store_true', help='also move the slider in Chromium')
    args = p.parse_args()
    load = common.warn_if_busy('bench_drawing_page')
    digit = mnist_data.read_data_sets(common.DATA_DIR).test.images[0]
    drawings = {'a bar': drawn([[(140, 50), (140, 230)]]), 'test digit 0 traced': traced(digit)}
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=args.checkpoint_dir,
                                     precision='fp32') as net:
        reader = drawing_page.Reader(net)
        try:
            answers = server_side(reader, drawings, [net.step, reader.steps[0]], args.requests)
        finally:
            reader.close()
    print('the answer with every layer, server side (Reader.classify + JSON), %d each:'
          % args.requests)
    for name, s in answers.items():
        print('  %-30s median %6.1f ms  p90 %6.1f ms  max %6.1f ms  (%d kB of JSON)'
              % (name, s['median_ms'], s['p90_ms'], s['max_ms'], s['json_kb']))
    moves = summary(slider_moves(args.checkpoint_dir, args.requests)) if args.browser else None
    if moves:
        print('a slider move, drawn in Chromium: median %.1f ms  p90 %.1f ms  max %.1f ms'
              % (moves['median_ms'], moves['p90_ms'], moves['max_ms']))
    cost = disk(args.checkpoint_dir)
    print('snapshots: %(here_mb)s MB here, %(one_snapshot_mb)s MB each; a full expert run keeps '
          '%(full_expert_run_snapshots)d: %(full_expert_run_mb)s MB' % cost)
    common.write_report('drawing_page', load, requests=args.requests, answers=answers,
                        slider=moves, disk=cost)


if __name__ == '__main__':
    main()
