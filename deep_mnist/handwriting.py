"""A learner's own digit, prepared the way MNIST's digits were: numpy and Pillow only.

MNIST's digits are light ink on black, the ink fitted into a 20x20 box keeping its
aspect and placed in a 28x28 frame with its centre of mass at the centre (pixel index
14, 14: the mean over MNIST's test set is 13.99, 14.01). A photo is dark ink on uneven
light paper, anywhere in the frame, any size, sometimes on a ruled line; resized as it
is, the network sees nothing it was trained on. ``prepare`` takes the photo there one
step at a time, each step an array that ``classify.py --explain`` draws:

    grey                  the photo in grey (0 black, 1 white), at most WORK_SIDE pixels
    ink bright on dark    1 = ink, whichever way round the photo has it
    paper flattened       the paper's uneven level taken out, ink scaled to ~1 (soft:
                          the grey edges of the strokes are kept, as MNIST has them)
    ruled lines removed   thin lines across most of the photo, not the digit's strokes
    cropped to the ink    specks dropped; strokes thickened to MNIST's width if thinner
    fitted into 20x20     the longer side 20 pixels, the aspect kept
    centred in 28x28      the centre of mass on pixel (14, 14), within half a pixel

``load_image`` reads a file the safe way (its size checked from the header before
anything is decoded). Every step is a plain function of arrays, for tests and for the
drawing page; a photo in which nothing can be found raises HandwritingError.
"""

import dataclasses
import warnings

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

MAX_PIXELS = 64_000_000   # a 48-50 MP phone photo still opens; a decompression bomb does not
WORK_SIDE = 512           # the longer side the steps work at: ample for a 20x20 box
FRAME, BOX = 28, 20       # MNIST's frame and the box its ink is fitted into
CENTRE = 14.0             # where MNIST puts the centre of mass (row and column index)
MNIST_STROKE = 2.5        # MNIST's median stroke width in the 20x20 box (stroke_width)
THINNEST_STROKE = 2.0     # thinner than this in the box (MNIST's 25th percentile): thickened
MIN_CONTRAST = 0.15       # ink must differ from the paper by this much of black-to-white
LINE_COVERAGE = 0.5       # a ruled line covers at least this much of a row (or column)
LINE_THIN = 0.6           # ... and is thinner than this times the digit's strokes
SPECK = 0.1               # an ink component below this times the largest is a speck


class HandwritingError(Exception):
    """An image that cannot be read or holds no digit; the message says why, briefly."""


@dataclasses.dataclass
class Prepared:
    """A prepared image: ``steps``, (name, 2-D float array) in order (the first, 'grey',
    is grey levels, 0 black and 1 white; the others are ink, 1 ink and 0 paper), and
    ``input``, the 784 float32 values in [0, 1] the network reads, as mnist_data gives."""
    steps: list
    input: np.ndarray

    def step(self, name):
        """The array of the step called ``name``."""
        return dict(self.steps)[name]


# --- reading the file ---------------------------------------------------------------

def open_upright(source, mode='L'):
    """The image of ``source`` (a path or a binary file object), decoded and turned
    upright as its EXIF orientation says; its size is checked from the header before
    anything is decoded. ``mode`` lets a large JPEG decode at a fraction of its size.
    Raises HandwritingError."""
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
            # A JPEG can be decoded at 1/2, 1/4 or 1/8 of its size at once: the steps
            # work at WORK_SIDE anyway, and a phone photo then decodes in a fraction.
            image.draft(mode, (2 * WORK_SIDE, 2 * WORK_SIDE))
            image.load()
            return ImageOps.exif_transpose(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise HandwritingError('cannot decode the image (%s)' % e) from None


def load_image(source):
    """A greyscale PIL image ('L') of ``source`` (a path or a binary file object): its
    size checked from the header before decoding, EXIF orientation applied,
    transparency flattened onto white. Raises HandwritingError."""
    return to_grey_image(open_upright(source, 'L'))


def load_photo(source, side):
    """The photo of ``source`` as a person sees it, to show beside the steps: RGB, upright,
    transparency on white, its longer side at most ``side``. Raises HandwritingError."""
    image = open_upright(source, 'RGB')
    if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'F'):
        image = to_grey_image(image)
    elif image.mode not in ('RGB', 'L'):
        image = image.convert('RGBA')
        paper = Image.new('RGBA', image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    image = image.convert('RGB')
    image.thumbnail((side, side), Image.BOX)
    return image


def to_grey_image(image):
    """``image`` in grey ('L'), transparent parts as white paper."""
    if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'F'):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith('I;16') else max(values.max(), 1.0)
        return Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8), 'L')
    if image.mode in ('RGBA', 'LA', 'PA', 'La', 'RGBa') or 'transparency' in image.info:
        image = image.convert('RGBA')
        paper = Image.new('RGBA', image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image)
    return image.convert('L')


# --- the steps ---------------------------------------------------------------------

def grey_levels(image):
    """Grey levels in [0, 1] (0 black, 1 white) of a PIL image or a 2-D array (uint8,
    or floats already in [0, 1]), shrunk so that neither side exceeds WORK_SIDE."""
    if isinstance(image, Image.Image):
        image = to_grey_image(image)
        scale = WORK_SIDE / max(image.size)
        if scale < 1:
            size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
            image = image.resize(size, Image.BOX)   # each pixel the mean of its area
        return np.asarray(image, dtype=np.float32) / 255.0
    values = np.asarray(image)
    if values.ndim != 2 or values.size == 0:
        raise HandwritingError('not a 2-D image')
    values = values / 255.0 if values.dtype == np.uint8 else values.astype(np.float32)
    if max(values.shape) > WORK_SIDE:
        return grey_levels(Image.fromarray((np.clip(values, 0, 1) * 255).astype(np.uint8)))
    return np.clip(values, 0, 1).astype(np.float32)


def _filter(values, kind, size):
    """A Pillow rank filter (MinFilter, MaxFilter) over a small float array."""
    return np.asarray(Image.fromarray(values.astype(np.float32), 'F').filter(kind(size)))


def _along_rows(values, radius, reduce):
    """reduce (np.maximum, np.add) over the 2 radius + 1 rows around each row."""
    padded = np.pad(values, ((radius, radius), (0, 0)), mode='edge')
    out = padded[:len(values)].copy()
    for k in range(1, 2 * radius + 1):
        reduce(out, padded[k:k + len(values)], out=out)
    return out


def max_filter(values, radius):
    """The maximum over the (2 radius + 1) square around each pixel, rows then columns
    (a square's maximum is separable, so the cost grows with the radius, not its square)."""
    if radius < 1:
        return values
    return _along_rows(_along_rows(values, radius, np.maximum).T, radius, np.maximum).T


def smooth(values):
    """The mean of the 3x3 square around each pixel: sensor noise and JPEG's ringing
    damped before the ink is looked for."""
    return (_along_rows(_along_rows(values, 1, np.add).T, 1, np.add).T / 9).astype(np.float32)


def ink_is_dark(grey):
    """Whether the ink is darker than the paper. The paper is most of the photo, so its
    level is the median; the ink is the extreme farthest from it."""
    paper = float(np.median(grey))
    return paper - float(grey.min()) >= float(grey.max()) - paper


def ink_bright(grey):
    """1 = ink, 0 = black paper: the grey levels smoothed (so that a noisy pixel is not
    taken for the ink), inverted when the ink is dark."""
    grey = smooth(grey)
    return 1.0 - grey if ink_is_dark(grey) else grey


def _block_min(values, block):
    """The minimum of each block x block tile (the edges repeated to whole tiles)."""
    h, w = values.shape
    padded = np.pad(values, ((0, -h % block), (0, -w % block)), mode='edge')
    return padded.reshape(padded.shape[0] // block, block,
                          padded.shape[1] // block, block).min(axis=(1, 3))


def paper_level(ink):
    """The paper's level under the ink, estimated at the scale of the whole photo: the
    darkest of tiles 1/32 of the longer side, opened over 5x5 tiles (wider than any
    stroke: a digit's strokes are about an eighth of its height), smoothed, and
    stretched back to the photo's size."""
    h, w = ink.shape
    block = max(2, round(max(h, w) / 32))
    tiles = _block_min(ink, block)
    if min(tiles.shape) >= 5:
        # Continued past the edges (odd reflection: a shade goes on as it went), so that
        # the opening does not flatten the last tiles of a shade to the level before them.
        tiles = np.clip(np.pad(tiles, 2, mode='reflect', reflect_type='odd'), 0, 1)
        tiles = _filter(_filter(tiles, ImageFilter.MinFilter, 5),
                        ImageFilter.MaxFilter, 5)[2:-2, 2:-2]
    else:
        tiles = np.full_like(tiles, tiles.min())
    # A 3x3 mean (the edges continued as above), then bilinear back to full size.
    continued = dict(mode='reflect', reflect_type='odd') if min(tiles.shape) >= 2 \
        else dict(mode='edge')
    padded = np.pad(tiles, 1, **continued)
    tiles = sum(padded[i:i + tiles.shape[0], j:j + tiles.shape[1]]
                for i in range(3) for j in range(3)) / 9
    return np.asarray(Image.fromarray(tiles.astype(np.float32), 'F').resize(
        (tiles.shape[1] * block, tiles.shape[0] * block), Image.BILINEAR))[:h, :w]


def otsu(values, bins=256):
    """Otsu's threshold of values in [0, 1]: the split that best separates two classes."""
    counts, edges = np.histogram(values, bins=bins, range=(0, 1))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * centres)
    total, total_mass = weight[-1], mass[-1]
    with np.errstate(divide='ignore', invalid='ignore'):
        mean_low = mass / weight
        mean_high = (total_mass - mass) / (total - weight)
        between = weight * (total - weight) * (mean_low - mean_high) ** 2
    if not np.any(between[:-1] > 0):
        return 0.5      # a single level: nothing to separate
    return float(edges[1:][np.nanargmax(between[:-1])])


def flatten_paper(ink):
    """Ink over paper of level 0 and the ink's own level 1, soft: the paper's uneven
    level taken out (as a fraction of the room left above it, so a shadow does not fade
    the ink), then a ramp from half Otsu's threshold to the ink's median level that
    keeps the strokes' grey edges. Raises HandwritingError when no ink stands out."""
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
    """The mean width of the strokes of a boolean ink mask, in pixels: twice the area
    over the outline's length (a stroke is long and thin), the outline counted in pixel
    edges and scaled by pi/4, the mean ratio of a curve's length to its steps along the
    axes. None for no ink."""
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
    if not across.any():
        return soft
    rest = mask.copy()
    rest[across] = False
    stroke = stroke_width(rest)
    if stroke is None:      # nothing but those rows: a big 1, say, or a bar; keep them
        return soft
    out = soft.copy()
    h = len(across)
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
    """soft without ruled lines: bands of rows (then columns) whose ink covers at least
    LINE_COVERAGE of the width and that are thinner than LINE_THIN times the digit's
    strokes (measured on the ink elsewhere). A 1 or a 7's bar is as thick as the other
    strokes and stays; where the digit crosses a line, its stroke is bridged."""
    return _remove_lines_along_rows(_remove_lines_along_rows(soft.T).T)


def _find(parent, i):
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def components(mask):
    """The 8-connected ink components of a boolean mask: (label array, sizes), labels
    0 for paper and 1..n, sizes[k] the pixels of label k (sizes[0] = 0). Runs of ink
    along rows are joined where they touch the row above (union-find)."""
    h, w = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    ends = np.nonzero(edges == -1)[1]       # exclusive; in the same order as the starts
    parent = list(range(len(rows)))
    first = np.searchsorted(rows, np.arange(h + 1))   # runs of row r: first[r]:first[r+1]
    for r in range(1, h):
        a, a_end = first[r - 1], first[r]
        for b in range(first[r], first[r + 1]):
            while a < a_end and ends[a] < starts[b]:    # ends before b (diagonal: touches)
                a += 1
            k = a
            while k < a_end and starts[k] <= ends[b]:
                ra, rb = _find(parent, k), _find(parent, b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
                k += 1
    roots = np.array([_find(parent, i) for i in range(len(rows))], dtype=np.int64)
    _, label_of_run = np.unique(roots, return_inverse=True)
    label_of_run = label_of_run.ravel() + 1
    labels = np.zeros((h, w), dtype=np.int32)
    for r, s, e, k in zip(rows, starts, ends, label_of_run):
        labels[r, s:e] = k
    sizes = np.bincount(label_of_run, weights=ends - starts,
                        minlength=label_of_run.max(initial=0) + 1).astype(np.int64)
    return labels, sizes


def crop_to_ink(soft):
    """The ink's bounding box cut out, without specks (components under SPECK times the
    largest; the soft edges of the kept ones stay); strokes thinner than MNIST's
    (THINNEST_STROKE in the 20x20 box) thickened to its median width. Raises
    HandwritingError when nothing is left."""
    labels, sizes = components(soft > 0.5)
    if sizes.max(initial=0) == 0:
        raise HandwritingError('no ink found (blank paper?)')
    keep = sizes >= SPECK * sizes.max()
    keep[0] = False
    kept = keep[labels]
    near = max_filter(kept, 2)     # with the grey edges around them
    ink = np.where(near & ~(labels > 0) | kept, soft, 0).astype(np.float32)
    rows, cols = np.flatnonzero(ink.max(axis=1) > 0.05), np.flatnonzero(ink.max(axis=0) > 0.05)
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    scale = BOX / max(crop.shape)           # box pixels per photo pixel
    width = stroke_width(crop > 0.5)
    if width is not None and width * scale < THINNEST_STROKE:
        radius = round((MNIST_STROKE / scale - width) / 2)
        crop = max_filter(np.pad(crop, radius), radius)
    return crop


def fit_box(crop):
    """The crop resized so that its longer side is BOX pixels, keeping its aspect
    (Lanczos: each pixel a weighted mean of its area), and its ink scaled to peak at 1."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    fitted = np.asarray(Image.fromarray(crop.astype(np.float32), 'F').resize(size, Image.LANCZOS))
    fitted = np.clip(fitted, 0, None)
    top = fitted.max()
    return (fitted / top if top > 0 else fitted).astype(np.float32)


def centre_of_mass(values):
    """(row, column) of the centre of mass of a 2-D array of ink, in pixel indices."""
    total = values.sum()
    rows, cols = np.indices(values.shape)
    return float((values * rows).sum() / total), float((values * cols).sum() / total)


def centre_in_frame(fitted):
    """fitted placed in a FRAME x FRAME frame with its centre of mass on (CENTRE, CENTRE),
    shifted by whole pixels as MNIST was (so within half a pixel). A digit whose mass
    lies far to one side of its box (a 7 of a long bar and a thin stem) would leave the
    frame there; it is kept whole instead, as near the centre as the frame allows."""
    cy, cx = centre_of_mass(fitted)
    h, w = fitted.shape
    top = min(max(int(np.floor(CENTRE - cy + 0.5)), 0), FRAME - h)
    left = min(max(int(np.floor(CENTRE - cx + 0.5)), 0), FRAME - w)
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    frame[top:top + h, left:left + w] = fitted
    return frame


def prepare(image):
    """A PIL image or a 2-D array of grey levels (see grey_levels), prepared like MNIST:
    a Prepared with every step and the network's input. Raises HandwritingError."""
    grey = grey_levels(image)
    steps = [('grey', grey)]

    def step(name, values):
        steps.append((name, values))
        return values
    ink = step('ink bright on dark', ink_bright(grey))
    soft = step('paper flattened', flatten_paper(ink))
    soft = step('ruled lines removed', remove_ruled_lines(soft))
    crop = step('cropped to the ink', crop_to_ink(soft))
    fitted = step('fitted into 20x20', fit_box(crop))
    frame = step('centred in 28x28', centre_in_frame(fitted))
    return Prepared(steps, frame.reshape(FRAME * FRAME).astype(np.float32))


def prepare_file(source):
    """load_image, then prepare: the Prepared of a path or a binary file object."""
    return prepare(load_image(source))
