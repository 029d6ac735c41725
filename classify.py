"""Your own handwriting: photos or scans of digits in, the digit out, and what the network saw.

Resize a phone photo of a 7 to 28x28 and the network that scored 99 % on MNIST
guesses: MNIST's digits are light ink on black, fitted into 20x20 and centred by
their centre of mass, and a photo is dark ink on uneven paper, anywhere, any size.
So each image is first prepared the way MNIST was (``deep_mnist/handwriting.py``:
grey, ink bright on dark, paper and ruled lines removed, cropped to the ink, fitted
into 20x20 keeping its aspect, centre of mass at the centre of 28x28), then the
checkpoint that deep_cnn.py trained classifies them all, restored once:

    python classify.py --recipe fast examples/              # every image of the folder
    python classify.py --recipe fast my7.jpg --json         # the same, as JSON
    python classify.py --recipe fast examples/ --explain explain/   # a figure per image
    python classify.py --recipe fast --serve                # a page to draw digits on

One line per image on stdout, ``PATH: D (P %), next E (Q %)``. An image that cannot
be read or holds no digit gets one line on stderr saying why; the rest are still
classified, and the exit code is 1. The checkpoint flags are the visualiser's.
``--serve`` opens a local page instead (deep_mnist/drawing_page.py): draw a digit and
see it read after each stroke, the drawing prepared exactly as a photo is.
"""

import contextlib
import json
import os
import sys

import numpy as np

import deep_cnn
from deep_mnist import checkpoints, cli, drawing_page, handwriting, signals

CONV_LAYERS = ('h_conv1', 'h_conv2')    # what --explain draws of the network's inside
BATCH = 250             # images prepared, then classified, at a time
EXPLAIN_BATCH = 25      # with --explain, which keeps every step of each image until drawn


class Failed(Exception):
    """A path that gives nothing to classify; the message says why."""


# --- flags ------------------------------------------------------------------------------

def parse_args(argv=None):
    p = cli.ArgumentParser(
        description='Classify photos or scans of handwritten digits with a deep_cnn.py '
                    'checkpoint, each prepared the way MNIST was.')
    p.add_argument('paths', nargs='*', metavar='IMAGE_OR_FOLDER',
                   help='image files (PNG, JPEG, BMP, GIF, WebP, ...) or folders of them')
    checkpoints.add_checkpoint_flags(p)
    p.add_argument('--json', action='store_true', help='print the results as JSON')
    p.add_argument('--explain', metavar='DIR',
                   help='write a figure per image into DIR: the photo, each step of the '
                        'preparation, the conv1 and conv2 activations, the probabilities')
    drawing_page.add_serve_flags(p)
    args = checkpoints.parse_checkpoint_flags(p, argv)
    if args.serve and (args.paths or args.json or args.explain):
        p.error('--serve classifies drawings: no images, --json or --explain beside it')
    if not args.serve and not args.paths:
        p.error('the following arguments are required: IMAGE_OR_FOLDER '
                '(or --serve, for the drawing page)')
    return args


# --- the images -----------------------------------------------------------------------------

def image_suffixes():
    """The file name suffixes Pillow can open ('.png', '.jpg', ...)."""
    from PIL import Image
    return {suffix for suffix, form in Image.registered_extensions().items() if form in Image.OPEN}


def expand(paths):
    """Each path, a folder replaced by its images (sorted by name), as (path, error):
    error None for a file to read, else why the path gives nothing."""
    suffixes = image_suffixes()
    for path in paths:
        if os.path.isdir(path):
            try:
                names = sorted(n for n in os.listdir(path)
                               if os.path.splitext(n)[1].lower() in suffixes
                               and os.path.isfile(os.path.join(path, n)))
            except OSError as e:
                yield path, 'cannot list the folder (%s)' % (e.strerror or e)
                continue
            if not names:
                yield path, 'no images in this folder'
            for name in names:
                yield os.path.join(path, name), None
        elif not os.path.exists(path):
            yield path, 'no such file or folder'
        else:
            yield path, None


def prepared_batches(paths, failed, size, keep_steps):
    """Lists of up to ``size`` (path, Prepared) of the images the paths name, in order;
    each path that gives nothing is appended to ``failed`` as (path, reason) and told on
    stderr. Without ``keep_steps`` only the network's input is kept: a folder of a few
    thousand photos needs no more memory than a batch."""
    batch = []
    for path, error in expand(paths):
        if error is None:
            try:
                prepared = handwriting.prepare_file(path)
                if not keep_steps:
                    prepared.steps = []
                batch.append((path, prepared))
                if len(batch) == size:
                    yield batch
                    batch = []
                continue
            except handwriting.HandwritingError as e:
                error = str(e)
        failed.append((path, error))
        print('%s: %s' % (path, error), file=sys.stderr, flush=True)
    if batch:
        yield batch


# --- the answers ------------------------------------------------------------------------------

def answer(path, probabilities):
    """One image's result: its digit, the runner-up, and the ten probabilities."""
    first, second = np.argsort(probabilities)[::-1][:2]
    return {'path': path, 'digit': int(first), 'probability': float(probabilities[first]),
            'next': int(second), 'next_probability': float(probabilities[second]),
            'probabilities': [round(float(p), 6) for p in probabilities]}


def line(result):
    """'PATH: D (P %), next E (Q %)'."""
    return '%s: %d (%.1f %%), next %d (%.1f %%)' % (
        result['path'], result['digit'], 100 * result['probability'],
        result['next'], 100 * result['next_probability'])


def classify(args):
    """Prepare a batch, classify it, print its lines, and so on; the checkpoint is
    restored once, when the first image is ready. Returns the exit code."""
    if args.serve:
        return serve(args)
    failed, results, about = [], [], {}
    names = FigureNames()
    with contextlib.ExitStack() as stack:
        net = None
        for batch in prepared_batches(args.paths, failed, EXPLAIN_BATCH if args.explain
                                      else BATCH, keep_steps=bool(args.explain)):
            if net is None:
                net = stack.enter_context(checkpoints.open_checkpoint(deep_cnn.deepnn, args))
                if net.note:
                    print('classify: %s' % net.note, file=sys.stderr)
                about = {'checkpoint': net.prefix, 'recipe': net.config.recipe,
                         'step': net.step}
            # one forward pass: the probabilities, and with --explain the conv layers too
            out = net.run(['probabilities'] + [n for n in CONV_LAYERS if args.explain and n in
                                               net.layers], np.stack([p.input for _, p in batch]))
            probabilities = out['probabilities']
            for (path, _), p in zip(batch, probabilities):
                results.append(answer(path, p))
                if not args.json:
                    print(line(results[-1]), flush=True)
            if args.explain:
                write_explanations(args.explain, batch, out, about, names)
    if args.json:
        print(json.dumps(dict(about, results=results,
                              errors=[{'path': p, 'error': e} for p, e in failed]), indent=1))
    return 1 if failed else 0


def serve(args):
    """The drawing page with the checkpoint, until Ctrl-C; returns the exit code."""
    # fp32 even for a bf16 run: each map's value is then the exact sum the page shows
    with checkpoints.open_checkpoint(deep_cnn.deepnn, args, precision='fp32') as net:
        if net.note:
            print('classify: %s' % net.note, file=sys.stderr)
        return drawing_page.serve_main(args, net)


# --- --explain ---------------------------------------------------------------------------------

class FigureNames:
    """A PNG name per image, from its file name, unique among those given
    (3.jpg, then 3.png: 3.png, 3-2.png)."""

    def __init__(self):
        self.taken = set()

    def __call__(self, path):
        stem = os.path.splitext(os.path.basename(path))[0] or 'image'
        name, n = stem + '.png', 1
        while name in self.taken:
            n += 1
            name = '%s-%d.png' % (stem, n)
        self.taken.add(name)
        return name


def write_explanations(directory, prepared, out, about, names):
    """One figure per image into ``directory``, named by ``names`` (FigureNames): see
    deep_mnist/figures.plot_explain."""
    import matplotlib.pyplot as plt
    from deep_mnist import figures
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise Failed('--explain: cannot write into %s (%s)' % (directory, e.strerror or e)) from None
    for i, ((path, p), probs) in enumerate(zip(prepared, out['probabilities'])):
        name = names(path)
        photo = handwriting.load_photo(path, figures.STEP_CELL)
        fig = figures.plot_explain(
            photo, p.steps, {n: out[n][i] for n in CONV_LAYERS if n in out}, probs,
            title='%s: %d (%.1f %%)' % (os.path.basename(path), probs.argmax(), 100 * probs.max()),
            subtitle='%s, recipe %s, step %d.' % (os.path.basename(about['checkpoint']),
                                                   about['recipe'], about['step']))
        out = os.path.join(directory, name)
        try:
            fig.savefig(out, dpi=figures.DPI)
        except OSError as e:
            raise Failed('--explain: cannot write %s (%s)' % (out, e.strerror or e)) from None
        finally:
            plt.close(fig)
        print('wrote %s' % out, file=sys.stderr)


# --- the command line -------------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    return cli.reported('classify', lambda: classify(args), (Failed, checkpoints.CheckpointError))


if __name__ == '__main__':
    # --explain only writes files: no window, no display needed (a notebook that calls
    # main() keeps its own backend).
    os.environ.setdefault('MPLBACKEND', 'Agg')
    sys.exit(signals.exit_quietly(main))
