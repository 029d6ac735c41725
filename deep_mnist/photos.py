"""Made-up photos of MNIST test digits (never trained on) for classify.py's tests, bench and
examples/, each a function of (seed, index): on paper, on a table, or 2-5 in a row.

    python -m deep_mnist.photos photos/ --count 300 [--kind tables]   # and labels.json
    python -m deep_mnist.photos examples/ --examples      # the repository's examples/
"""

import argparse
import io
import json
import os
import pathlib
import sys

import numpy as np
from PIL import ExifTags, Image, ImageFilter

from deep_mnist.handwriting import homography

# EXIF orientations 3, 6, 8: the turn exif_transpose undoes, so that a photo comes out upright
STORED_AS = {3: Image.Transpose.ROTATE_180, 6: Image.Transpose.ROTATE_90,
             8: Image.Transpose.ROTATE_270}
INKS = {'black': (0.08, 0.08, 0.10), 'blue': (0.10, 0.15, 0.45), 'pencil': (0.30, 0.30, 0.32),
        'red': (0.55, 0.08, 0.08)}
PAPERS = {'white': (1.0, 1.0, 1.0), 'cream': (1.0, 0.96, 0.86), 'grey': (0.93, 0.93, 0.95),
          'blue': (0.92, 0.95, 1.0)}
BOARDS = {'black': (0.12, 0.12, 0.13), 'green': (0.12, 0.25, 0.18), 'slate': (0.22, 0.24, 0.28)}
TABLES = ('wood', 'grey', 'dark', 'pattern')
# examples/: (name, test digit, changes to its look) for each way a photo differs from MNIST
EXAMPLES_SEED, EXAMPLE_HEIGHT = 1, 90
EXAMPLE_LOOK = dict(height=EXAMPLE_HEIGHT, canvas=(150, 130), dark_ink=True, format='JPEG',
                    quality=85)     # small files for the repository
EXAMPLES = [
    ('7_blue_pen_ruled.jpg', 0, dict(ink=INKS['blue'], paper=PAPERS['cream'], ruled=True)),
    ('2_chalk_on_a_board.jpg', 1, dict(dark_ink=False, ink=(0.9, 0.9, 0.9), ruled=False,
                                       paper=BOARDS['green'])),
    ('1_pencil_in_shadow.jpg', 2, dict(ink=INKS['pencil'], paper=PAPERS['white'], light=0.4,
                                       ruled=False)),
    ('0_small_in_a_corner.png', 3, dict(height=70, canvas=(220, 170), at=(0.9, 0.1), noise=0.0,
                                        ink=INKS['black'], paper=PAPERS['grey'], ruled=False,
                                        blur=0.3, format='PNG')),
    ('4_turned_by_exif.jpg', 4, dict(orientation=6, ink=INKS['black'], paper=PAPERS['white'])),
    ('5_blurred_noisy_jpeg.jpg', 8, dict(blur=1.2, noise=0.04, ink=INKS['black'], quality=45,
                                         paper=PAPERS['grey'], ruled=False)),
    ('6_transparent.png', 11, dict(format='PNG-alpha', ink=INKS['black'], noise=0.0,
                                   orientation=1, ruled=False)),
    ('3_red_ink.jpg', 18, dict(ink=INKS['red'], paper=PAPERS['white'])),
]


def draw_look(rng):
    """One photo's look (in labels.json): 'at' a fraction of the room, 'noise' 1 = white."""
    height = int(rng.integers(70, 221))
    canvas = (int(height * rng.uniform(1.3, 3.0)), int(height * rng.uniform(1.25, 2.6)))
    dark_ink = rng.random() < 0.75
    if dark_ink:
        ink = INKS[rng.choice(list(INKS))]
        shade = rng.uniform(0.72, 1.0)
        paper = tuple(v * shade for v in PAPERS[rng.choice(list(PAPERS))])
    else:
        ink = tuple([rng.uniform(0.7, 0.97)] * 3)                   # chalk
        paper = BOARDS[rng.choice(list(BOARDS))]
    form = rng.choice(['JPEG', 'PNG', 'PNG-alpha'], p=[0.7, 0.25, 0.05]) if dark_ink \
        else rng.choice(['JPEG', 'PNG'], p=[0.7, 0.3])
    return dict(height=height, canvas=canvas, at=(rng.random(), rng.random()),
                angle=float(rng.uniform(-8, 8)), dark_ink=bool(dark_ink), ink=ink, paper=paper,
                light=float(rng.uniform(0, 0.35)), blur=float(rng.uniform(0, 1.2)),
                noise=float(rng.uniform(0, 0.04)), ruled=bool(dark_ink and rng.random() < 0.3),
                orientation=int(rng.choice([1, 3, 6, 8], p=[0.8, 0.05, 0.1, 0.05])),
                format=str(form), quality=int(rng.integers(40, 96)))


def stroke_alpha(digit, look):
    """How much ink covers each pixel: the digit as tall as the look says, turned."""
    rows, cols = np.flatnonzero(digit.max(1) > 0), np.flatnonzero(digit.max(0) > 0)
    box = np.pad(digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1], 1)
    scale = look['height'] / (rows[-1] - rows[0] + 1)
    size = (round(box.shape[1] * scale), round(box.shape[0] * scale))
    big = Image.fromarray(box.astype(np.float32), 'F').resize(size, Image.BICUBIC)
    big = big.rotate(look['angle'], Image.BILINEAR, expand=True)
    return np.clip((np.asarray(big) - 0.3) / 0.4, 0, 1)


def smooth_field(rng, shape, cells=4):
    """Noise in [-1, 1] that varies over a few cells across the photo: the paper's grain."""
    coarse = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, 'F').resize(shape[::-1], Image.BICUBIC))


def render(alpha, look, rng):
    """The photo of the ink ``alpha`` as ``look`` says, stored turned as its EXIF tag says."""
    w, h = max(look['canvas'][0], alpha.shape[1] + 4), max(look['canvas'][1], alpha.shape[0] + 4)
    x, y = (int(f * room) for f, room in zip(look['at'], (w - alpha.shape[1], h - alpha.shape[0])))
    cover = np.pad(alpha, ((y, h - y - alpha.shape[0]), (x, w - x - alpha.shape[1])))
    # The light: a shade falling across the sheet in some direction, and the grain.
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)
    ramp = (ramp - ramp.min()) / max(ramp.max() - ramp.min(), 1e-6)
    light = 1 - look['light'] * ramp + 0.04 * smooth_field(rng, (h, w))
    paper = np.ones((h, w, 3), np.float32) * np.array(look['paper'], np.float32)
    if look['ruled']:
        spacing = look['height'] * rng.uniform(0.45, 0.8)
        thick = int(rng.integers(1, 3))
        line = np.zeros(h, np.float32)
        for top in np.arange(rng.uniform(0, spacing), h, spacing).astype(int):
            line[top:top + thick] = rng.uniform(0.35, 0.6)
        paper = paper * (1 - line[:, None, None]) + np.array([0.35, 0.5, 0.8]) * line[:, None, None]
    rgb = (paper * (1 - cover[..., None]) + np.array(look['ink'], np.float32) * cover[..., None]) \
        * light[..., None]
    image = Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), 'RGB')
    if look['blur'] > 0.05:
        image = image.filter(ImageFilter.GaussianBlur(look['blur'] * look['height'] / 100))
    values = np.asarray(image, np.float32) + rng.normal(0, look['noise'] * 255, (h, w, 1))
    image = Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), 'RGB')
    if look['format'] == 'PNG-alpha':      # a drawing on transparent paper: the ink alone
        image.putalpha(Image.fromarray((cover * 255).astype(np.uint8), 'L'))
    if look['orientation'] != 1:
        image = image.transpose(STORED_AS[look['orientation']])
    return image


def encode(image, look):
    """The photo's file contents, with its EXIF orientation tag."""
    exif = Image.Exif()
    if look['orientation'] != 1:
        exif[ExifTags.Base.Orientation] = look['orientation']
    out = io.BytesIO()      # PNG has no quality to set
    image.save(out, 'JPEG' if look['format'] == 'JPEG' else 'PNG', quality=look['quality'],
               exif=exif.tobytes())
    return out.getvalue()


def make_photo(images, labels, seed, index, **changes):
    """(file contents, look, label) of photo ``index`` of the set ``seed``, ``changes`` made."""
    rng = np.random.default_rng([seed, index])
    look = draw_look(rng) | changes
    alpha = stroke_alpha(images[index].reshape(28, 28), look)
    return encode(render(alpha, look, rng), look), look, int(labels[index])


def table_top(kind, shape, rng):
    """A table of ``kind`` (TABLES), RGB in [0, 1], of ``shape`` (height, width)."""
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float32)
    grain = smooth_field(rng, shape, 6)[..., None]
    if kind == 'wood':
        tone = 0.8 + 0.2 * np.sin(yy / rng.uniform(2, 8) + 5 * grain[..., 0])[..., None]
        return tone * np.array([0.55, 0.36, 0.2]) * rng.uniform(0.75, 1.05)
    if kind == 'pattern':
        cell = rng.uniform(10, 40)
        low, high = rng.uniform(0.1, 0.45, (2, 3))
        return low + (high - low) * ((xx // cell + yy // cell) % 2)[..., None]
    level = rng.uniform(0.3, 0.5) if kind == 'grey' else rng.uniform(0.03, 0.18)
    return np.full(shape + (3,), level) * (1 + 0.15 * grain)


def on_a_table(sheet, rng, kind):
    """(the photo ``sheet`` lying on a table of ``kind``, what was drawn)."""
    w, h = sheet.size
    cover, aspect = rng.uniform(0.45, 0.85), w / h * rng.uniform(0.85, 1.2)
    height = int(np.sqrt(w * h / cover / aspect))
    width = int(height * aspect)
    turn = np.radians(rng.uniform(-6, 6))
    corners = np.array([(-w, -h), (w, -h), (w, h), (-w, h)]) / 2 @ np.array(
        [[np.cos(turn), np.sin(turn)], [-np.sin(turn), np.cos(turn)]])
    if rng.random() < 0.35:
        corners += rng.uniform(-0.04, 0.04, (4, 2)) * (w, h)     # seen at an angle
    corners += (width / 2, height / 2) + rng.uniform(-0.1, 0.1, 2) * (width, height) * (1 - cover)
    to_sheet = homography(corners, [(0, 0), (w, 0), (w, h), (0, h)])
    laid = np.asarray(sheet.convert('RGBA').transform(   # alpha: where the sheet lies
        (width, height), Image.Transform.PERSPECTIVE, (to_sheet / to_sheet[2, 2]).ravel()[:8],
        Image.BILINEAR), np.float32) / 255
    rgb = table_top(kind, (height, width), rng)
    gap = corners[:, 0].min() / width
    other = gap > 0.12 and rng.random() < 0.4
    if other:       # another sheet's edge, along the left of the frame
        rgb[:, :int((gap - 0.08) * width)] = np.array(PAPERS['white']) * rng.uniform(0.8, 1)
    rgb = rgb * (1 - laid[..., 3:]) + laid[..., :3] * laid[..., 3:]
    shadow = rng.random() < 0.35
    if shadow:      # a hand's shadow from the bottom right, soft
        yy, xx = np.mgrid[0:height, 0:width] / max(width, height)
        centre = rng.uniform(0.7, 1.1, 2) * (width, height) / max(width, height)
        hand = (np.hypot(xx - centre[0], yy - centre[1]) < rng.uniform(0.2, 0.35)) * 255.0
        hand = np.asarray(Image.fromarray(hand.astype(np.uint8)).filter(
            ImageFilter.GaussianBlur(0.04 * width)), np.float32) / 255
        rgb = rgb * (1 - rng.uniform(0.15, 0.3) * hand[..., None])
    rgb = rgb + rng.normal(0, 0.015, rgb.shape)
    drawn = dict(table=kind, cover=round(float(cover), 3), turn=round(float(np.degrees(turn)), 2),
                 other_sheet=bool(other), shadow=bool(shadow))
    return Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8), 'RGB'), drawn


def make_table_photo(images, labels, seed, index, kind=None, **changes):
    """make_photo's (JPEG contents, look, label) of a sheet on a table of ``kind``."""
    rng = np.random.default_rng([seed, index, 1])
    look = draw_look(rng) | dict(
        dark_ink=True, ink=INKS[rng.choice(list(INKS))], ruled=False,
        paper=tuple(v * rng.uniform(0.85, 1) for v in PAPERS[rng.choice(list(PAPERS))]),
        at=tuple(rng.uniform(0.2, 0.8, 2)), light=float(rng.uniform(0, 0.2)),
        orientation=1, format='JPEG') | changes
    image, drawn = on_a_table(render(stroke_alpha(images[index].reshape(28, 28), look), look,
                                     rng), rng, kind or TABLES[rng.integers(len(TABLES))])
    return encode(image, look), look | drawn, int(labels[index])


def make_number_photo(images, labels, seed, index, which=None, **changes):
    """(file contents, look, the number) of 2-5 test ``images`` (``which``) in a row."""
    rng = np.random.default_rng([seed, index, 2])
    which = rng.choice(len(images), rng.integers(2, 6), replace=False) if which is None else which
    look = draw_look(rng) | dict(
        dark_ink=True, ink=INKS[rng.choice(list(INKS))], paper=PAPERS[rng.choice(list(PAPERS))],
        height=int(rng.integers(50, 130)), angle=0.0, orientation=1,
        format=str(rng.choice(['JPEG', 'PNG']))) | changes
    parts = [stroke_alpha(images[i].reshape(28, 28), look | dict(
        height=int(look['height'] * rng.uniform(0.9, 1.1)), angle=float(rng.uniform(-5, 5))))
        for i in which]
    gaps = [int(look['height'] * rng.uniform(0.15, 0.4)) for _ in parts]
    row = np.zeros((max(p.shape[0] for p in parts) + look['height'] // 6,
                    sum(p.shape[1] + g for p, g in zip(parts, gaps))), np.float32)
    x = 0
    for part, gap in zip(parts, gaps):
        y = int(rng.uniform(0, row.shape[0] - part.shape[0]))
        row[y:y + part.shape[0], x:x + part.shape[1]] = part
        x += part.shape[1] + gap
    alpha = row[:, :x - gaps[-1]]
    look['canvas'] = (int(alpha.shape[1] * rng.uniform(1.1, 1.5)),
                      int(alpha.shape[0] * rng.uniform(1.4, 2.4)))
    return encode(render(alpha, look, rng), look), look, ''.join(str(int(labels[i])) for i in which)


def photo_set(images, labels, count, seed=0, kind='photos'):
    """(file name, contents, label, look) of ``count`` photos of ``kind`` (main's --kind)."""
    make = {'photos': make_photo, 'tables': make_table_photo, 'numbers': make_number_photo}[kind]
    for i in range(count):
        contents, look, label = make(images, labels, seed, i)
        suffix = '.jpg' if look['format'] == 'JPEG' else '.png'
        yield '%s%04d_%s%s' % (kind[:-1], i, label, suffix), contents, label, look


def write_photo_set(directory, images, labels, count, seed=0, kind='photos'):
    """photo_set's photos and labels.json into ``directory``; returns {file name: label}."""
    os.makedirs(directory, exist_ok=True)
    about = {}
    for name, contents, label, look in photo_set(images, labels, count, seed, kind):
        pathlib.Path(directory, name).write_bytes(contents)
        about[name] = {'label': label, 'look': look}
    pathlib.Path(directory, 'labels.json').write_text(json.dumps(about, indent=1))
    return {name: entry['label'] for name, entry in about.items()}


def write_examples(directory, images, labels):
    """EXAMPLES, a sheet on a table and a number into ``directory``; their names."""
    written = {name: make_photo(images, labels, EXAMPLES_SEED, index, **EXAMPLE_LOOK | changes)[0]
               for name, index, changes in EXAMPLES}
    written['8_sheet_on_a_table.jpg'] = make_table_photo(    # test digit 61, an 8
        images, labels, EXAMPLES_SEED, 61, 'wood', quality=85, height=EXAMPLE_HEIGHT,
        canvas=(190, 160))[0]    # room on the sheet around it
    # In a folder of its own, where classify.py examples/ does not read it as one digit
    written[os.path.join('numbers', '1975.jpg')] = make_number_photo(
        images, labels, EXAMPLES_SEED, 0, (2, 7, 0, 8), height=70, format='JPEG', quality=85)[0]
    for name, contents in written.items():
        os.makedirs(os.path.dirname(os.path.join(directory, name)), exist_ok=True)
        pathlib.Path(directory, name).write_bytes(contents)
    return list(written)


def main(argv=None):
    import mnist_data
    p = argparse.ArgumentParser(prog='python -m deep_mnist.photos',
                                description='Write photos of MNIST test digits.')
    p.add_argument('directory')
    p.add_argument('--count', type=int, default=300, help='how many (default: 300)')
    p.add_argument('--seed', type=int, default=0, help='which set (default: 0)')
    p.add_argument('--kind', choices=('photos', 'tables', 'numbers'), default='photos',
                   help='all paper, sheets on tables, or numbers (default: photos)')
    p.add_argument('--data_dir', default=mnist_data.default_data_dir())
    p.add_argument('--examples', action='store_true', help="write the repository's examples/")
    args = p.parse_args(argv)
    try:
        test = mnist_data.read_data_sets(args.data_dir).test
    except mnist_data.MNISTDataError as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    if args.examples:
        what = '%d example photos' % len(write_examples(args.directory, test.images, test.labels))
    else:
        what = '%d photos and labels.json' % len(write_photo_set(
            args.directory, test.images, test.labels, args.count, args.seed, args.kind))
    print('wrote %s into %s' % (what, args.directory))
    return 0


if __name__ == '__main__':
    sys.exit(main())
