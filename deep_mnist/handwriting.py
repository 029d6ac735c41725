"""A learner's own digit, or number, prepared the way MNIST's digits were (light ink on
black, fitted into 20x20 and centred by mass in 28x28), one step at a time, each step an
array that ``classify.py --explain`` draws:

    grey                  the photo in grey (0 black, 1 white), at most WORK_SIDE pixels
    sheet                 the sheet of paper found, set straight, cut inside its edges
    ink bright on dark    1 = ink, whichever way round the photo has it
    paper flattened       the paper's uneven level taken out, ink ~1, soft edges kept
    ruled lines removed   thin lines across most of the sheet, not the digit's strokes
    cropped to the ink    specks dropped; strokes thickened to MNIST's width if thinner
    fitted into 20x20     the longer side 20 pixels, the aspect kept
    centred in 28x28      the centre of mass on pixel (14, 14), within half a pixel

``prepare_number`` cuts the ink into digits in a row, each taken through the last three.
"""

import dataclasses
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

from deep_mnist.sheet import components, find_sheet, otsu, smooth, straighten

MAX_PIXELS = 64_000_000   # a 48-50 MP phone photo still opens; a decompression bomb does not
WORK_SIDE = 512           # the longer side the steps work at: ample for a 20x20 box
FRAME, BOX = 28, 20       # MNIST's frame and the box its ink is fitted into
CENTRE = 14.0             # MNIST's centre of mass (row and column; the test set: 13.99, 14.01)
MNIST_STROKE = 2.5        # MNIST's median stroke width in the 20x20 box (stroke_width)
THINNEST_STROKE = 2.0     # thinner than this in the box (MNIST's 25th percentile): thickened
MIN_CONTRAST = 0.15       # ink must differ from the paper by this much of black-to-white
LINE_COVERAGE = 0.5       # a ruled line covers at least this much of a row (or column)
LINE_THIN = 0.6           # ... and is thinner than this times the digit's strokes
SPECK = 0.1               # an ink component below this times the largest is a speck
DARK = 0.3                # no sheet, and 99 % of the photo darker than this: too dark
MAX_DIGITS = 12


class HandwritingError(Exception):
    """An image that cannot be read or holds no digit; the message says why, briefly."""


@dataclasses.dataclass
class Prepared:
    """``steps``: (name, 2-D array) ('grey', 'sheet': 0 black; the rest: 1 ink); ``input``:
    the network's 784 float32 values; ``sheet``: its corners (x, y) in fractions of the
    photo's width and height, clockwise from the top left, or None (all paper)."""
    steps: list
    input: np.ndarray
    sheet: np.ndarray = None

    def step(self, name):
        return dict(self.steps)[name]

    @property
    def inputs(self):
        """The input as a batch of one, as Number.inputs."""
        return self.input[None]


@dataclasses.dataclass
class Number:
    """A number's digits, left to right: ``inputs`` [k, 784] as Prepared.input, ``boxes``
    (left, top, right, bottom) in the given image's pixels; ``steps`` and ``sheet`` as
    Prepared's, up to 'ruled lines removed'; ``size``, the image's (width, height)."""
    steps: list
    inputs: np.ndarray
    boxes: list
    sheet: np.ndarray
    size: tuple


# --- reading the file ---------------------------------------------------------------

def open_upright(source, mode='L'):
    """The image of a path or binary file, its size checked from the header before it is
    decoded (a JPEG in ``mode`` at a fraction of its size, if still twice WORK_SIDE),
    turned upright as its EXIF orientation says. Raises HandwritingError."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', Image.DecompressionBombWarning)
        try:
            image = Image.open(source)   # reads the header only
        except Image.DecompressionBombError:
            raise HandwritingError('too large to decode safely (over %d megapixels)'
                                   % (MAX_PIXELS // 1_000_000)) from None
        except UnidentifiedImageError:
            raise HandwritingError('not an image') from None
        except OSError as e:    # unreadable: a folder, no permission, ...
            raise HandwritingError('cannot read it (%s)' % (e.strerror or e)) from None
        width, height = image.size
        if width * height > MAX_PIXELS:
            image.close()
            raise HandwritingError('too large to decode safely (%d x %d)' % (width, height))
        try:
            image.draft(mode, (2 * WORK_SIDE, 2 * WORK_SIDE))
            image.load()
            # what draft shrank by, so that boxes are given in the photo's own pixels
            image.info['decoded_scale'] = width / image.size[0]
            return ImageOps.exif_transpose(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise HandwritingError('cannot decode the image (%s)' % e) from None


def flat(image, mode='L'):
    """``image`` in ``mode`` ('L' or 'RGB'): 16-bit and float grey scaled to 8 bits,
    transparent parts white paper."""
    if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'F'):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith('I;16') else max(values.max(), 1.0)
        image = Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8), 'L')
    elif image.mode in ('RGBA', 'LA', 'PA', 'La', 'RGBa') or 'transparency' in image.info:
        paper = Image.new('RGBA', image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert('RGBA'))
    return image.convert(mode)


def load_image(source):
    """A greyscale PIL image of a path or binary file (open_upright, flat)."""
    return flat(open_upright(source, 'L'))


def load_photo(source, side):
    """The photo as a person sees it, in RGB, its longer side at most ``side``."""
    image = flat(open_upright(source, 'RGB'), 'RGB')
    image.thumbnail((side, side), Image.BOX)
    return image


def fitted_size(width, height, side):
    """(width, height) scaled so that the longer side is ``side``, the aspect kept."""
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def grey_levels(image):
    """Grey levels in [0, 1] (0 black) of a PIL image or a 2-D array (uint8, or floats
    in [0, 1]), shrunk so that neither side exceeds WORK_SIDE."""
    if isinstance(image, Image.Image):
        image = flat(image)
        if max(image.size) > WORK_SIDE:     # each pixel the mean of its area
            image = image.resize(fitted_size(*image.size, WORK_SIDE), Image.BOX)
        return np.asarray(image, dtype=np.float32) / 255.0
    values = np.asarray(image)
    if values.ndim != 2 or values.size == 0:
        raise HandwritingError('not a 2-D image')
    values = values / 255.0 if values.dtype == np.uint8 else values.astype(np.float32)
    if max(values.shape) > WORK_SIDE:
        return grey_levels(Image.fromarray((np.clip(values, 0, 1) * 255).astype(np.uint8)))
    return np.clip(values, 0, 1).astype(np.float32)


# --- the ink -----------------------------------------------------------------------------------

def ink_bright(grey):
    """1 = ink, 0 = black paper: the grey levels smoothed, inverted when the ink is dark
    (the paper is the median, the ink the extreme farthest from it)."""
    grey = smooth(grey)
    paper = float(np.median(grey))
    return 1.0 - grey if paper - grey.min() >= grey.max() - paper else grey


def paper_level(ink):
    """The paper's level under the ink: the darkest of tiles 1/32 of the longer side,
    opened over 5x5 tiles (wider than a stroke; continued past the edges as a shade goes
    on), a 3x3 mean, bilinear back to full size."""
    h, w = ink.shape
    block = max(2, round(max(h, w) / 32))
    padded = np.pad(ink, ((0, -h % block), (0, -w % block)), mode='edge')
    tiles = padded.reshape(padded.shape[0] // block, block,
                           padded.shape[1] // block, block).min(axis=(1, 3))
    if min(tiles.shape) >= 5:
        tiles = np.clip(np.pad(tiles, 3, mode='reflect', reflect_type='odd'), 0, 1)
        tiles = ndimage.uniform_filter(ndimage.grey_opening(tiles, size=5), 3)[3:-3, 3:-3]
    else:
        tiles = np.full_like(tiles, tiles.min())
    return np.asarray(Image.fromarray(tiles.astype(np.float32), 'F').resize(
        (tiles.shape[1] * block, tiles.shape[0] * block), Image.BILINEAR))[:h, :w]


def flatten_paper(ink):
    """Ink over paper 0, the ink's own level 1, soft: the paper's level taken out (as a
    fraction of the room above it, so a shadow does not fade the ink), then a ramp from
    half Otsu's threshold to the ink's median. Raises HandwritingError for no ink."""
    paper = paper_level(ink)
    lifted = np.clip((ink - paper) / np.maximum(1 - paper, 0.05), 0, 1)
    threshold = otsu(lifted)
    above = lifted[lifted > threshold]
    level = float(np.median(above)) if above.size else 0.0
    if level < MIN_CONTRAST:
        raise HandwritingError('no ink found (blank paper?)')
    low = threshold / 2
    return np.clip((lifted - low) / (level - low), 0, 1).astype(np.float32)


def stroke_width(mask):
    """The strokes' mean width in pixels: twice the area over the outline's length (its
    pixel edges times pi/4, a curve's mean length per axis step). None for no ink."""
    area = int(mask.sum())
    if not area:
        return None
    padded = np.pad(mask, 1)
    edges = (np.count_nonzero(padded[1:] != padded[:-1])
             + np.count_nonzero(padded[:, 1:] != padded[:, :-1]))
    return 2 * area / (edges * np.pi / 4)


def _remove_lines_along_rows(soft):
    """soft without its thin rows of ink across most of the width (see remove_ruled_lines)."""
    mask = soft > 0.5
    across = mask.mean(axis=1) >= LINE_COVERAGE
    rest = mask & ~across[:, None]
    stroke = stroke_width(rest)
    if not across.any() or stroke is None:  # nothing but those rows: a big 1, a bar; kept
        return soft
    out, h = soft.copy(), len(across)
    # The line's soft edges: rows beside it with a trace of ink across as much of the width.
    traced = (soft > 0.02).mean(axis=1) >= LINE_COVERAGE
    rows = np.flatnonzero(across)
    for band in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1):
        thickness = len(band)
        if thickness > LINE_THIN * stroke:
            continue        # as thick as the digit's strokes: a stroke, not a line
        top, bottom = band[0], band[-1]
        while top > 0 and traced[top - 1] and band[0] - top < thickness + 2:
            top -= 1
        while bottom < h - 1 and traced[bottom + 1] and bottom - band[-1] < thickness + 2:
            bottom += 1
        above = soft[top - 1] if top > 0 else np.zeros_like(soft[0])
        below = soft[bottom + 1] if bottom < h - 1 else np.zeros_like(soft[0])
        # Where the digit crosses the line it has ink above and below: bridge it.
        out[top:bottom + 1] = np.minimum(above, below)
    return out


def remove_ruled_lines(soft):
    """soft without bands of rows (then columns) of ink across LINE_COVERAGE of it that are
    thinner than LINE_THIN times the digit's strokes (a 1 or a 7's bar is not); where the
    digit crosses a line, its stroke is bridged."""
    return _remove_lines_along_rows(_remove_lines_along_rows(soft.T).T)


def crop_to_ink(soft):
    """The ink's box, without specks (components under SPECK times the largest; the kept
    ones' soft edges stay); strokes thinner than THINNEST_STROKE in the 20x20 box
    thickened to MNIST's. Raises HandwritingError when nothing is left."""
    labels, sizes = components(soft > 0.5)
    if not sizes.any():
        raise HandwritingError('no ink found (blank paper?)')
    kept = (sizes >= SPECK * sizes.max())[labels] & (labels > 0)
    near = ndimage.binary_dilation(kept, np.ones((5, 5)))     # with the grey edges around
    ink = np.where(near & ~(labels > 0) | kept, soft, 0).astype(np.float32)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.05), np.flatnonzero(ink.max(axis=0) > 0.05)
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = BOX / max(crop.shape)           # box pixels per photo pixel
    width = stroke_width(crop > 0.5)
    if width is not None and width * scale < THINNEST_STROKE:
        radius = round((MNIST_STROKE / scale - width) / 2)
        crop = ndimage.maximum_filter(np.pad(crop, radius), 2 * radius + 1)
    return crop


def fit_box(crop):
    """The crop resized (Lanczos) to BOX pixels on its longer side, its ink peaking at 1."""
    size = fitted_size(crop.shape[1], crop.shape[0], BOX)
    fitted = np.clip(np.asarray(Image.fromarray(crop.astype(np.float32), 'F').resize(
        size, Image.LANCZOS)), 0, None)
    return (fitted / max(fitted.max(), 1e-12)).astype(np.float32)


def centre_in_frame(fitted):
    """fitted in a FRAME x FRAME frame, its centre of mass on (CENTRE, CENTRE) by whole
    pixels as MNIST's; a digit whose mass lies far to one side of its box (a 7 of a long
    bar and a thin stem) is kept whole, as near the centre as the frame allows."""
    cy, cx = ndimage.center_of_mass(fitted)
    h, w = fitted.shape
    top = min(max(int(np.floor(CENTRE - cy + 0.5)), 0), FRAME - h)
    left = min(max(int(np.floor(CENTRE - cx + 0.5)), 0), FRAME - w)
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    frame[top:top + h, left:left + w] = fitted
    return frame


# --- the preparation ---------------------------------------------------------------------------

def on_paper(image, all_paper=False):
    """(the steps up to 'ruled lines removed', the sheet's corners as Prepared.sheet, the
    3x3 matrix from the sheet's pixels to the image's, the image's size) of a PIL image
    or 2-D array. ``all_paper``: the image is known to be paper alone (the drawing page's
    canvas), so no sheet is looked for, and ink may touch every edge. Raises
    HandwritingError: no ink, or no paper to find."""
    grey = grey_levels(image)
    corners = None if all_paper else find_sheet(grey)
    if corners is None and np.percentile(grey, 99) < DARK:
        raise HandwritingError('too dark to find a sheet of paper')
    sheet, to_grey = (grey, np.eye(3)) if corners is None else straighten(grey, corners)
    steps = [('grey', grey), ('sheet', sheet), ('ink bright on dark', ink_bright(sheet))]
    steps.append(('paper flattened', flatten_paper(steps[-1][1])))
    steps.append(('ruled lines removed', remove_ruled_lines(steps[-1][1])))
    ink = steps[-1][1] > 0.5
    if corners is None and not all_paper and sum(
            map(np.any, (ink[0], ink[-1], ink[:, 0], ink[:, -1]))) >= 3:
        raise HandwritingError('no sheet of paper found (the table alone?)')
    size = (tuple(round(side * image.info.get('decoded_scale', 1)) for side in image.size)
            if isinstance(image, Image.Image) else np.shape(image)[::-1])
    to_image = np.diag([size[0] / grey.shape[1], size[1] / grey.shape[0], 1]) @ to_grey
    fractions = None if corners is None else corners / (grey.shape[1], grey.shape[0])
    return steps, fractions, to_image, tuple(size)


def mnist_steps(soft):
    """'cropped to the ink', 'fitted into 20x20' and 'centred in 28x28' of one digit."""
    crop = crop_to_ink(soft)
    fitted = fit_box(crop)
    return [('cropped to the ink', crop), ('fitted into 20x20', fitted),
            ('centred in 28x28', centre_in_frame(fitted))]


def prepare(image, all_paper=False):
    """A PIL image or 2-D array of grey levels (see grey_levels) prepared like MNIST: a
    Prepared (``all_paper`` as on_paper takes it). Raises HandwritingError."""
    steps, corners, _, _ = on_paper(image, all_paper)
    steps += mnist_steps(steps[-1][1])
    return Prepared(steps, steps[-1][1].reshape(FRAME * FRAME), corners)


def digit_parts(soft):
    """(labels, the digits left to right: (their labels, (left, top, right, bottom)))
    of the ink. Its components, grown by half a stroke (a faint pen's broken stroke stays
    whole), without specks; those over one another are one digit (a 5's bar, a broken 4)
    when near, and no row when far apart. Raises HandwritingError."""
    ink = soft > 0.5
    if not ink.any():
        raise HandwritingError('no ink found (blank paper?)')
    grown, _ = components(ndimage.binary_dilation(
        ink, iterations=max(1, round(stroke_width(ink) / 2))))   # 0 would grow without end
    labels = np.where(ink, grown, 0)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    found = [(k, [s[1].start, s[0].start, s[1].stop, s[0].stop])
             for k, s in enumerate(ndimage.find_objects(labels), 1)
             if s is not None and sizes[k] >= SPECK * sizes.max()]
    if len(found) > 4 * MAX_DIGITS:
        raise HandwritingError('more than %d digits' % MAX_DIGITS)
    digits = []
    for k, b in sorted(found, key=lambda part: part[1][0]):
        for keys, a in digits:
            if min(a[2], b[2]) - max(a[0], b[0]) >= 0.5 * min(a[2] - a[0], b[2] - b[0]):
                if max(a[1], b[1]) - min(a[3], b[3]) > 0.6 * max(a[3] - a[1], b[3] - b[1]):
                    raise HandwritingError('the ink forms no row (digits over one another)')
                keys.append(k)
                a[:] = min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
                break
        else:
            digits.append(([k], b))
    top, bottom = np.median([b[1] for _, b in digits]), np.median([b[3] for _, b in digits])
    slack = (bottom - top) / 4
    if any(not top - slack <= (b[1] + b[3]) / 2 <= bottom + slack for _, b in digits):
        raise HandwritingError('the ink forms no row')
    if len(digits) > MAX_DIGITS:
        raise HandwritingError('more than %d digits (%d)' % (MAX_DIGITS, len(digits)))
    return labels, digits


def prepare_number(image, all_paper=False):
    """The digits of a number written in a row, each prepared like MNIST: a Number. The
    ``image`` and ``all_paper`` as prepare takes them. Raises HandwritingError (no ink,
    more than MAX_DIGITS digits, ink that forms no row)."""
    steps, corners, to_image, size = on_paper(image, all_paper)
    soft = steps[-1][1]
    labels, digits = digit_parts(soft)
    inputs, boxes = [], []
    for keys, (left, top, right, bottom) in digits:
        mine = np.isin(labels, keys)
        near = ndimage.binary_dilation(mine, np.ones((5, 5))) & ~((labels > 0) & ~mine)
        inputs.append(mnist_steps(np.where(near, soft, 0))[-1][1].reshape(FRAME * FRAME))
        x, y, z = to_image @ [[left, right, right, left], [top, top, bottom, bottom], [1] * 4]
        x, y = np.clip(x / z, 0, size[0]), np.clip(y / z, 0, size[1])
        boxes.append(tuple(int(v) for v in (np.floor(x.min()), np.floor(y.min()),
                                             np.ceil(x.max()), np.ceil(y.max()))))
    return Number(steps, np.stack(inputs), boxes, corners, size)
