"""Your own handwriting: photos or scans of digits in, the digit out, and what the network saw.
Each image is prepared the way MNIST was (deep_mnist/handwriting.py), then read by a deep_cnn.py
checkpoint restored once; one line each on stdout (docs/classify.md):

    python classify.py --recipe fast examples/ [--json] [--explain explain/] [--number]
    python classify.py --recipe fast --serve                # a page to draw digits on
"""

import contextlib
import itertools
import json
import os
import stat
import sys

import numpy as np
from PIL import Image

import deep_cnn
from deep_mnist import checkpoints, cli, drawing_page, figures, handwriting, signals
from deep_mnist.figures import (CAPTION_H, CAPTION_PAD, CAPTION_SIZE, DIGIT_CELL, GAP, GREY,
                                INDEX_SIZE, LABEL_PAD, LABEL_SIZE, LABEL_W, MARGIN, Canvas,
                                from_zero, header_height, wrap)

BATCH = 250             # images prepared, then classified, at a time
EXPLAIN_BATCH = 25      # with --explain, which keeps every step of each image until drawn
STEP_CELL, STEP_GAP = 110, 12       # the photo and each step of its preparation
MAP_CELL, MAPS_PER_ROW = 30, 32     # the conv maps
BARS_H, BAR_W = 110, 36             # the probabilities' bars
SECTION_GAP = 22    # between the steps, the maps and the bars; room for a caption
SPECIAL_FILES = {stat.S_IFIFO: 'a named pipe', stat.S_IFSOCK: 'a socket', stat.S_IFCHR: 'a device',
                 stat.S_IFBLK: 'a device'}
ROW_LABEL = dict(ha='right', va='center', fontsize=LABEL_SIZE, color=GREY)
STEPS_CAPTION = ('Top: the photo (the sheet found%s outlined) and each step of its '
                 'preparation, the ink light on black as MNIST has it. ')
EXPLAIN_CAPTION = STEPS_CAPTION % '' + (
    'Then the conv1 maps h_conv1 (28\u00d728) and conv2 maps h_conv2 (14\u00d714) of the '
    '28\u00d728 input: white = 0, black = the map\'s largest value. Bottom: the probabilities.')
NUMBER_CAPTION = STEPS_CAPTION % ' and each digit\'s box' + (
    'Below: each digit\'s 28\u00d728 input and what the network read.')


class Failed(Exception):
    """--explain cannot write its figures; the message says why."""


def parse_args(argv=None):
    p = cli.ArgumentParser(description='Read handwritten digits in photos, prepared as MNIST was.')
    p.add_argument('paths', nargs='*', metavar='IMAGE_OR_FOLDER',
                   help='images (PNG, JPEG, ...) or folders of them')
    checkpoints.add_checkpoint_flags(p)
    p.add_argument('--json', action='store_true', help='print the results as JSON')
    p.add_argument('--number', action='store_true', help='read the digits in a row as a number')
    p.add_argument('--explain', metavar='DIR', help='write a figure per image into DIR: each '
                   'step of its preparation, the conv maps, the probabilities')
    drawing_page.add_serve_flags(p)
    args = checkpoints.parse_checkpoint_flags(p, argv)
    if args.serve and (args.paths or args.json or args.explain or args.number):
        p.error('--serve classifies drawings: no images, --json, --explain or --number beside it')
    if not args.serve and not args.paths:
        p.error('the following arguments are required: IMAGE_OR_FOLDER '
                '(or --serve, for the drawing page)')
    return args


def expand(paths):
    """(path, None, or why it gives nothing) of each path, a folder replaced by its images;
    nothing else but a file is opened (reading a pipe would wait forever)."""
    suffixes = {s for s, form in Image.registered_extensions().items() if form in Image.OPEN}
    for path in paths:
        try:
            mode = os.stat(path).st_mode
        except OSError as e:
            yield path, ('no such file or folder' if isinstance(e, FileNotFoundError)
                         else 'cannot read it (%s)' % (e.strerror or e))
            continue
        if not stat.S_ISDIR(mode):
            kind = SPECIAL_FILES.get(stat.S_IFMT(mode), 'not a file')
            yield path, None if stat.S_ISREG(mode) else 'not a regular file (%s)' % kind
            continue
        try:
            names = sorted(n for n in os.listdir(path) if os.path.splitext(n)[1].lower()
                           in suffixes and os.path.isfile(os.path.join(path, n)))
        except OSError as e:
            yield path, 'cannot list the folder (%s)' % (e.strerror or e)
            continue
        yield from [(os.path.join(path, n), None) for n in names] or [
            (path, 'no images in this folder')]


def prepared_images(paths, failed, keep_steps, number=False):
    """(path, Prepared or Number) of each image, the failures told and in ``failed``; only
    the inputs unless ``keep_steps``: a folder of thousands of photos fits in memory."""
    read = handwriting.prepare_number if number else handwriting.prepare
    for path, error in expand(paths):
        try:
            prepared = read(handwriting.load_image(path)) if error is None else None
        except handwriting.HandwritingError as e:
            error = str(e)
        if error:
            failed.append((path, error))
            print('%s: %s' % (path, error), file=sys.stderr, flush=True)
            continue
        if not keep_steps:
            prepared.steps = []
        yield path, prepared


def answer(path, probabilities):
    """One image's result for --json."""
    first, second = np.argsort(probabilities)[::-1][:2]
    return {'path': path, 'digit': int(first), 'probability': float(probabilities[first]),
            'next': int(second), 'next_probability': float(probabilities[second]),
            'probabilities': [round(float(p), 6) for p in probabilities]}


def number_answer(path, probabilities, boxes):
    """One number's result for --json."""
    digits = probabilities.argmax(axis=1)
    return {'path': path, 'number': ''.join(map(str, digits)), 'digits': digits.tolist(),
            'boxes': [list(b) for b in boxes],
            'probabilities': [round(float(p), 6) for p in probabilities.max(axis=1)]}


def line(result):
    """A result's line on stdout."""
    if 'number' in result:
        each = ' '.join('%.0f' % (100 * p) for p in result['probabilities'])
        return "{path}: {number} (each digit's probability: {each} %)".format(each=each, **result)
    return '{path}: {digit} ({0:.1f} %), next {next} ({1:.1f} %)'.format(
        100 * result['probability'], 100 * result['next_probability'], **result)


def classify(args):
    """The exit code of reading the images, or of --serve; Ctrl-C or SIGTERM end it."""
    with signals.stop_requests() as early, signals.stop_signals_to(signals.interrupt):
        if early:       # a Ctrl-C before the handler was in place
            raise signals.Interrupted(early.signum)
        if not args.serve:
            return classify_all(args)
        # fp32 even for a bf16 run: each map's value is then the exact sum the page shows
        with checkpoints.open_checkpoint(deep_cnn.deepnn, args, precision='fp32') as net:
            if net.note:
                print('classify: %s' % net.note, file=sys.stderr)
            return drawing_page.serve_main(args, net)


def classify_all(args):
    """Batch after batch prepared, read and printed; the checkpoint opened for the first."""
    failed, results, about, names, net = [], [], {}, FigureNames(), None
    images = prepared_images(args.paths, failed, bool(args.explain), args.number)
    with contextlib.ExitStack() as stack:
        while batch := list(itertools.islice(images, EXPLAIN_BATCH if args.explain else BATCH)):
            if net is None:
                net = stack.enter_context(checkpoints.open_checkpoint(deep_cnn.deepnn, args))
                if net.note:
                    print('classify: %s' % net.note, file=sys.stderr)
                about = {'checkpoint': net.prefix, 'recipe': net.config.recipe, 'step': net.step}
            counts = [len(p.inputs) for _, p in batch]    # one predict for the batch
            probabilities = np.split(net.predict(np.concatenate([p.inputs for _, p in batch])),
                                     np.cumsum(counts)[:-1])
            for (path, prepared), p in zip(batch, probabilities):
                results.append(number_answer(path, p, prepared.boxes) if args.number
                               else answer(path, p[0]))
                if not args.json:
                    print(line(results[-1]), flush=True)
            if args.explain:
                write_explanations(args.explain, batch, probabilities, net, about, names)
    if args.json:
        print(json.dumps(dict(about, results=results,
                              errors=[{'path': p, 'error': e} for p, e in failed]), indent=1))
    return 1 if failed else 0


def steps_figure(photo, steps, title, subtitle, caption, width, below, sheet=None, boxes=()):
    """(figure, canvas, y under) of the photo (sheet, boxes outlined), its steps, room ``below``."""
    from matplotlib.patches import Polygon
    width = max(width, MARGIN + (1 + len(steps)) * (STEP_CELL + STEP_GAP))
    lines = wrap('%s\n%s' % (subtitle, caption), width - 2 * MARGIN)
    y = header_height(len(lines)) + CAPTION_H + CAPTION_PAD
    canvas = Canvas(width, y + STEP_CELL + SECTION_GAP + below, lines)
    fig = canvas.figure(title)
    pw, ph = photo.size
    w, h = handwriting.fitted_size(pw, ph, STEP_CELL)
    x0, y0 = MARGIN + (STEP_CELL - w) / 2, y + (STEP_CELL - h) / 2
    ax = fig.add_axes([x0 / canvas.width, 1 - (y0 + h) / canvas.height, w / canvas.width,
                       h / canvas.height], zorder=1)
    ax.imshow(np.asarray(photo), interpolation='antialiased', extent=(0, pw, ph, 0))
    outlines = [] if sheet is None else [np.asarray(sheet) * (pw, ph)]
    outlines += [[(l, t), (r, t), (r, b), (l, b)] for l, t, r, b in boxes]
    for corners in outlines:
        ax.add_patch(Polygon(corners, closed=True, fill=False, edgecolor='#e0301e', linewidth=1.2))
    ax.set(xticks=[], yticks=[])
    canvas.text(fig, MARGIN, y - CAPTION_PAD, 'photo', fontsize=CAPTION_SIZE, va='bottom')
    for i, (name, values) in enumerate(steps, start=1):
        x = MARGIN + i * (STEP_CELL + STEP_GAP)
        canvas.fit(1 - np.asarray(values), x, y, STEP_CELL)    # gray_r: 1 is black
        canvas.text(fig, x, y - CAPTION_PAD, name, fontsize=CAPTION_SIZE - 1, va='bottom')
    return fig, canvas, y + STEP_CELL + SECTION_GAP


def plot_explain(photo, steps, maps, probabilities, title='', subtitle='', sheet=None):
    """--explain's figure: photo and steps, conv ``maps`` ({'h_conv1': [s, s, n]}), answer."""
    rows = [(k, name, first) for k, (name, values) in enumerate(maps.items())
            for first in range(0, values.shape[-1], MAPS_PER_ROW)]     # k: the layer
    maps_h = len(rows) * (MAP_CELL + GAP) + len(maps) * (SECTION_GAP - GAP) + CAPTION_H
    fig, canvas, y_maps = steps_figure(
        photo, steps, title, subtitle, EXPLAIN_CAPTION, LABEL_W + MAPS_PER_ROW * (MAP_CELL + GAP)
        - GAP + MARGIN, maps_h + BARS_H + CAPTION_H + MARGIN, sheet)
    y_bars = y_maps + maps_h
    for i, (k, name, first) in enumerate(rows):
        y = y_maps + i * (MAP_CELL + GAP) + k * (SECTION_GAP - GAP)
        values = maps[name][..., first:first + MAPS_PER_ROW]
        for j in range(values.shape[-1]):
            canvas.fit(from_zero(values[:, :, j]), LABEL_W + j * (MAP_CELL + GAP), y, MAP_CELL)
        canvas.text(fig, LABEL_W - LABEL_PAD, y + MAP_CELL / 2, '%s\n%d\u2013%d' % (
            name, first, first + values.shape[-1] - 1), **ROW_LABEL)
    canvas.draw(fig)
    ax = fig.add_axes([LABEL_W / canvas.width, 1 - (y_bars + BARS_H) / canvas.height,
                       10 * BAR_W * 1.5 / canvas.width, BARS_H / canvas.height])
    bars = ax.bar(range(10), probabilities, width=0.66, color='0.7')
    bars[int(np.argmax(probabilities))].set_color('black')
    ax.bar_label(bars, ['%.0f%%' % (100 * p) if p >= 0.005 else '' for p in probabilities],
                 padding=2, fontsize=INDEX_SIZE + 0.5, color=GREY)
    ax.set(ylim=(0, 1.15), xlim=(-0.6, 9.6), xticks=range(10), yticks=[])  # 1.15: room for 100 %
    ax.spines[['top', 'right', 'left']].set_visible(False)
    ax.tick_params(axis='x', labelsize=LABEL_SIZE, length=0)
    canvas.text(fig, LABEL_W - LABEL_PAD, y_bars + BARS_H / 2, 'probability', **ROW_LABEL)
    return fig


def plot_number(photo, number, probabilities, title='', subtitle=''):
    """--number's figure: photo, boxes and steps, then each digit's input and answer."""
    scale = photo.size[0] / number.size[0]
    fig, canvas, y_digits = steps_figure(
        photo, number.steps, title, subtitle, NUMBER_CAPTION,
        2 * MARGIN + len(number.inputs) * (DIGIT_CELL + STEP_GAP), CAPTION_H + DIGIT_CELL + MARGIN,
        number.sheet, [np.multiply(box, scale) for box in number.boxes])
    y_digits += CAPTION_H
    for i, (values, p) in enumerate(zip(number.inputs, probabilities)):
        x = MARGIN + i * (DIGIT_CELL + STEP_GAP)
        canvas.fit(1 - values.reshape(28, 28), x, y_digits, DIGIT_CELL)
        canvas.text(fig, x, y_digits - CAPTION_PAD, '%d (%.0f %%)' % (p.argmax(), 100 * p.max()),
                    fontsize=CAPTION_SIZE, va='bottom')
    canvas.draw(fig)
    return fig


class FigureNames(set):
    """A PNG name per image, unique among those given (3.jpg, then 3.png: 3.png, 3-2.png)."""

    def __call__(self, path):
        stem = os.path.splitext(os.path.basename(path))[0] or 'image'
        names = [stem + '.png'] + ['%s-%d.png' % (stem, k) for k in range(2, len(self) + 3)]
        name = next(n for n in names if n not in self)
        self.add(name)
        return name


def write_explanations(directory, prepared, probabilities, net, about, names):
    """One figure per image into ``directory``, named by ``names`` (FigureNames)."""
    import matplotlib.pyplot as plt
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise Failed('--explain: cannot write into %s (%s)'
                     % (directory, e.strerror or e)) from None
    subtitle = '%s, recipe %s, step %d.' % (os.path.basename(about['checkpoint']),
                                            about['recipe'], about['step'])
    for (path, p), probs in zip(prepared, probabilities):
        photo, name = handwriting.load_photo(path, STEP_CELL), os.path.basename(path)
        if p.boxes is not None:
            fig = plot_number(photo, p, probs, line(number_answer(name, probs, p.boxes)), subtitle)
        else:
            maps = net.run([n for n in ('h_conv1', 'h_conv2') if n in net.layers], p.inputs)
            fig = plot_explain(photo, p.steps, {n: m[0] for n, m in maps.items()}, probs[0],
                               '%s: %d (%.1f %%)' % (name, probs[0].argmax(), 100 * probs[0].max()),
                               subtitle, p.sheet)
        out = os.path.join(directory, names(path))
        try:
            fig.savefig(out, dpi=figures.DPI)
        except OSError as e:
            raise Failed('--explain: cannot write %s (%s)' % (out, e.strerror or e)) from None
        finally:
            plt.close(fig)
        print('wrote %s' % out, file=sys.stderr)


def main(argv=None):
    args = parse_args(argv)
    return cli.reported('classify', lambda: classify(args), (Failed, checkpoints.CheckpointError))


if __name__ == '__main__':
    # --explain only writes files: no display needed (a notebook keeps its own backend)
    os.environ.setdefault('MPLBACKEND', 'Agg')
    sys.exit(signals.exit_quietly(main))
