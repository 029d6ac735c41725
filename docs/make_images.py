"""Make the pictures of the README and docs/ again, from one seeded `fast` run.

    .venv/bin/python docs/make_images.py

trains `deep_cnn.py --recipe fast --seed 1 --precision fp32` into --run (default
train_data/images; fp32: what most learners' CPUs compute) unless that run is there,
finished, then runs the commands of IMAGES below and writes each picture, shrunk to a
256-colour PNG, into docs/images/. The drawing page's picture comes from `classify.py --serve` in the headless
Chromium that tests/test_drawing_page.py uses.
"""

import argparse
import json
import math
import pathlib
import shutil
import signal
import subprocess
import sys
import tempfile

from PIL import Image, ImageChops

REPO = pathlib.Path(__file__).resolve().parent.parent
PYTHON = sys.executable
# One row per picture: (its name in docs/images/, the command that draws it, the file of
# its output directory to take). {run} is the run's checkpoint directory, {out} a fresh
# output directory. A row with the command 'drawing_page' is the browser's screenshot.
FILTERS = 'visualize_filters.py --checkpoint_dir {run} --samples 4 --output_dir {out}'
IMAGES = [
    ('filters.png', FILTERS, 'conv1.png'),
    ('learning_curve.png', FILTERS, 'learning_curve.png'),
    ('explain.png', 'classify.py --checkpoint_dir {run} --explain {out} '
     'examples/1_pencil_in_shadow.jpg', '1_pencil_in_shadow.png'),
    ('explain_table.png', 'classify.py --checkpoint_dir {run} --explain {out} '
     'examples/8_sheet_on_a_table.jpg', '8_sheet_on_a_table.png'),
    ('number.png', 'classify.py --checkpoint_dir {run} --number --explain {out} '
     'examples/numbers/1975.jpg', '1975.png'),
    ('filters_over_training.png', 'visualize_filters.py --checkpoint_dir {run} '
     '--over_training --output_dir {out}', 'filters_over_training.png'),
    ('drawing_page.png', 'drawing_page', 'drawing_page.png'),
]
# Logged more often than fast's own 500 steps, so the learning curve has points to draw.
TRAIN = ('deep_cnn.py --recipe fast --seed 1 --precision fp32 --log_every 10 '
         '--summary_every 50 --checkpoint_dir {run} --log_dir {logs}')
MAX_BYTES = 250_000


def train(run):
    """The seeded run in run/train, trained unless it is there, finished. Paths stay
    relative to the repository where they can: the figures' captions show them."""
    run = run.resolve()
    if run.is_relative_to(REPO):
        run = run.relative_to(REPO)
    checkpoint_dir = run / 'train'
    record = REPO / checkpoint_dir / 'run.json'
    if record.exists() and json.loads(record.read_text()).get('status') == 'finished':
        print('reusing the finished run in %s' % checkpoint_dir, file=sys.stderr)
        return checkpoint_dir
    command = TRAIN.format(run=checkpoint_dir, logs=run / 'logs')
    print('training: %s (several minutes on 2 cores)' % command, file=sys.stderr)
    subprocess.run([PYTHON, *command.split()], cwd=REPO, check=True)
    return checkpoint_dir


def two():
    """A handwritten-looking 2: its strokes, as (x, y) points on the 280-pixel pad."""
    arc = [(140 + 62 * math.cos(a), 105 + 55 * math.sin(a))
           for a in (math.pi * (1.05 + i / 12) for i in range(14))]
    return [arc + [(85, 225), (205, 222)]]


def screenshot_drawing_page(checkpoint_dir, out):
    """Serve the page, draw a 2 on it with the mouse, and screenshot the answer."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    server = subprocess.Popen([PYTHON, 'classify.py', '--checkpoint_dir', str(checkpoint_dir),
                               '--serve', '--port', '0'], cwd=REPO, stdout=subprocess.PIPE,
                              text=True)
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which('chromium')
    for flag in ('--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars',
                 '--window-size=1100,2000', '--user-data-dir=%s' % (out / 'profile')):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which('chromedriver')), options=options)
    try:
        url = server.stdout.readline().split('serving on ')[1].split()[0]
        driver.get(url)
        pad = driver.find_element('id', 'pad')
        scale = pad.size['width'] / 280
        actions = ActionChains(driver, duration=5)
        for stroke in two():
            points = [(round((x - 140) * scale), round((y - 140) * scale)) for x, y in stroke]
            actions.move_to_element_with_offset(pad, *points[0]).click_and_hold()
            for (x0, y0), (x1, y1) in zip(points, points[1:]):
                actions.move_by_offset(x1 - x0, y1 - y0)
            actions.release()
        actions.perform()
        driver.set_script_timeout(30)
        driver.execute_async_script("""
            const done = arguments[0];
            const check = () => document.body.dataset.answered ? done() : setTimeout(check, 20);
            check();""")
        driver.save_screenshot(str(out / 'window.png'))
        # Crop the window's empty margins, keeping 16 pixels of the page around its content.
        window = Image.open(out / 'window.png').convert('RGB')
        box = ImageChops.difference(window, Image.new('RGB', window.size,
                                                      window.getpixel((0, 0)))).getbbox()
        margin = (-16, -16, 16, 16)
        window.crop([edge + m for edge, m in zip(box, margin)]).save(out / 'drawing_page.png')
    finally:
        driver.quit()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def shrink(source, target):
    """Save source as a 256-colour PNG; fail if it is still over MAX_BYTES."""
    Image.open(source).convert('RGB').quantize(256).save(target, optimize=True)
    size = target.stat().st_size
    if size > MAX_BYTES:
        sys.exit('error: %s is %d bytes, over %d' % (target, size, MAX_BYTES))
    print('wrote %s (%d KB)' % (target.relative_to(REPO), size // 1000))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--run', type=pathlib.Path, default=REPO / 'train_data' / 'images',
                        help='the seeded run: reused if finished (default: train_data/images)')
    args = parser.parse_args()
    checkpoint_dir = train(args.run)
    images = REPO / 'docs' / 'images'
    images.mkdir(exist_ok=True)
    made = {}                # command -> its output directory, so each command runs once
    with tempfile.TemporaryDirectory() as tmp:
        for name, command, output in IMAGES:
            if command not in made:
                out = made[command] = pathlib.Path(tmp, str(len(made)))
                out.mkdir()
                if command == 'drawing_page':
                    screenshot_drawing_page(checkpoint_dir, out)
                else:
                    words = command.format(run=checkpoint_dir, out=out).split()
                    subprocess.run([PYTHON, *words], cwd=REPO, check=True)
            shrink(made[command] / output, images / name)


if __name__ == '__main__':
    main()
