"""A learner's own digit, or number, prepared the way MNIST's digits were.

MNIST's digits are light ink on black, fitted into a 20x20 box keeping their aspect and
placed in 28x28 with the centre of mass on pixel (14, 14) (the test set's mean: 13.99,
14.01). A photo is a sheet on a table, dark ink on uneven paper, anywhere, any size.
``prepare`` takes it there one step at a time, each step an array that
``classify.py --explain`` draws:

    grey                  the photo in grey (0 black, 1 white), at most WORK_SIDE pixels
    sheet                 the sheet of paper found, set straight, cut inside its edges
    ink bright on dark    1 = ink, whichever way round the photo has it
    paper flattened       the paper's uneven level taken out, ink ~1, soft edges kept
    ruled lines removed   thin lines across most of the sheet, not the digit's strokes
    cropped to the ink    specks dropped; strokes thickened to MNIST's width if thinner
    fitted into 20x20     the longer side 20 pixels, the aspect kept
    centred in 28x28      the centre of mass on pixel (14, 14), within half a pixel

``prepare_number`` cuts the ink into digits in a row and takes each through the last
three steps. scipy.ndimage does the filters and the connected components.
"""

import dataclasses
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

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
SHEET_AREA = 0.2          # a sheet covers at least this much of the photo
SHEET_FILL = 0.9          # ... and fills its four corners' quadrilateral (straight edges)
SHEET_PAPER = 0.8         # ... and is mostly paper (not ink) inside them
SHEET_STEP = 0.08         # ... and is this much brighter than the table beyond each edge
SHEET_MARGIN = 0.03       # cut this far (of its sides) inside the sheet's edges
DARK = 0.3                # no sheet, and 99 % of the photo darker than this: too dark
MAX_DIGITS = 12
GREY_MODES = ('I', 'I;16', 'I;16B', 'I;16L', 'F')


class HandwritingError(Exception):
    """An image that cannot be read or holds no digit; the message says why, briefly."""


@dataclasses.dataclass
class Prepared:
    """``steps``: (name, 2-D float array) in order ('grey' and 'sheet' in grey levels,
    0 black; the rest ink, 1 ink); ``input``: the 784 float32 values the network reads;
    ``sheet``: the sheet's corners (x, y) as fractions of the photo's width and height,
    clockwise from the top left, or None for a photo that is all paper."""
    steps: list
    input: np.ndarray
    sheet: np.ndarray = None

    def step(self, name):
        """The array of the step called ``name``."""
        return dict(self.steps)[name]

    @property
    def inputs(self):
        """The input as a batch of one, as Number.inputs."""
        return self.input[None]


@dataclasses.dataclass
class Number:
    """A number's digits, left to right: ``inputs`` [k, 784] as Prepared.input, ``boxes``
    (left, top, right, bottom) in the given image's pixels; ``steps`` and ``sheet`` as
    Prepared's, up to 'ruled lines removed'; ``size`` (width, height) of the image."""
    steps: list
    inputs: np.ndarray
    boxes: list
    sheet: np.ndarray
    size: tuple


# --- reading the file ---------------------------------------------------------------

def open_upright(source, mode='L'):
    """The image of ``source`` (a path or a binary file object), decoded and turned
    upright as its EXIF orientation says; its size is checked from the header before
    anything is decoded. A JPEG is decoded in ``mode`` at a fraction of its size when
    that still leaves twice WORK_SIDE. Raises HandwritingError."""
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
            return ImageOps.exif_transpose(image)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise HandwritingError('cannot decode the image (%s)' % e) from None


def flat(image, mode='L'):
    """``image`` in ``mode`` ('L' or 'RGB'): 16-bit and float grey scaled to 8 bits,
    transparent parts white paper."""
    if image.mode in GREY_MODES:
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith('I;16') else max(values.max(), 1.0)
        image = Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8), 'L')
    elif image.mode in ('RGBA', 'LA', 'PA', 'La', 'RGBa') or 'transparency' in image.info:
        paper = Image.new('RGBA', image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(paper, image.convert('RGBA'))
    return image.convert(mode)


def load_image(source):
    """A greyscale PIL image ('L') of ``source`` (a path or a binary file object): see
    open_upright and flat. Raises HandwritingError."""
    return flat(open_upright(source, 'L'))


def load_photo(source, side):
    """The photo as a person sees it, to show beside the steps: RGB, upright,
    transparency on white, its longer side at most ``side``. Raises HandwritingError."""
    image = flat(open_upright(source, 'RGB'), 'RGB')
    image.thumbnail((side, side), Image.BOX)
    return image


def fitted_size(width, height, side):
    """(width, height) scaled so that the longer side is ``side``, the aspect kept."""
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


# --- the sheet ------------------------------------------------------------------------------

def grey_levels(image):
    """Grey levels in [0, 1] (0 black, 1 white) of a PIL image or a 2-D array (uint8,
    or floats already in [0, 1]), shrunk so that neither side exceeds WORK_SIDE."""
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


def smooth(values):
    """The 3x3 mean: sensor noise and JPEG's ringing damped before anything is looked for."""
    return ndimage.uniform_filter(values.astype(np.float32), 3, mode='nearest')


def components(mask):
    """The 8-connected components of a boolean mask: (labels, sizes), labels 0 for the
    background and 1..n, sizes[k] the pixels of label k (sizes[0] = 0)."""
    labels, _ = ndimage.label(mask, np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels, sizes


def quad_corners(region):
    """The four extreme pixels (x, y) of a boolean region along its diagonals, clockwise
    from the top left: a quadrilateral's corners, when it is one turned under 45 degrees."""
    ys, xs = np.nonzero(region)
    return np.array([(xs[k], ys[k]) for k in (np.argmax(sx * xs + sy * ys) for sx, sy in
                     ((-1, -1), (1, -1), (1, 1), (-1, 1)))], dtype=np.float64)


def fit_edges(region, corners):
    """The corners moved to where the edges meet, each edge the line through the region's
    outline near it, between its ends (so a corner cut off by a shadow or a bright
    speck of table beside an extreme pixel does not move it)."""
    outline = np.argwhere(region & ~ndimage.binary_erosion(region))[:, ::-1].astype(float)
    reach = 0.04 * np.ptp(corners, axis=0).max() + 2
    lines = []
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        length = max(np.hypot(*(b - a)), 1e-9)
        unit = (b - a) / length
        along, across = ((outline - a) @ np.array([unit, (-unit[1], unit[0])]).T).T
        near = outline[(np.abs(across) < reach) & (along > 0.1 * length) & (along < 0.9 * length)]
        if len(near) < 10:
            return corners
        centre = near.mean(axis=0)
        lines.append((centre, np.linalg.svd(near - centre)[2][0]))   # the points' direction
    meets = []
    for (p, u), (q, v) in zip(lines[-1:] + lines[:-1], lines):
        try:
            s, _ = np.linalg.solve(np.array([u, -v]).T, q - p)
        except np.linalg.LinAlgError:
            return corners
        meets.append(p + s * u)
    return np.array(meets)


def edges_that_step(grey, corners):
    """How many of the quadrilateral's edges are steps down from the inside to the outside
    (SHEET_STEP, median of points just inside and outside); edges at the photo's border,
    with nothing outside, are left out. None when an edge is not a step."""
    h, w = grey.shape
    reach = 0.03 * max(h, w) + 2
    centre, found = corners.mean(axis=0), 0
    along = np.linspace(0.15, 0.85, 15)[:, None]
    for a, b in zip(corners, np.roll(corners, -1, axis=0)):
        normal = np.array([b[1] - a[1], a[0] - b[0]]) / max(np.hypot(*(b - a)), 1e-9)
        normal *= np.sign(np.dot(normal, (a + b) / 2 - centre)) or 1     # outwards
        points = a + along * (b - a)
        outside, inside = points + reach * normal, points - reach * normal
        seen = np.all((outside >= 0) & (outside <= (w - 1, h - 1)), axis=1)
        if seen.mean() < 0.5:
            continue
        level = [ndimage.map_coordinates(grey, [p[seen, 1], p[seen, 0]], order=1, mode='nearest')
                 for p in (inside, outside)]
        if np.median(level[0] - level[1]) < SHEET_STEP:
            return None
        found += 1
    return found


def find_sheet(grey):
    """The corners (x, y) of the sheet of paper in ``grey``, clockwise from the top left,
    or None when the photo is all paper (or no sheet is found): the bright region (at
    Otsu's threshold, or the upper or lower one's) that fills the quadrilateral of its
    corners, covers SHEET_AREA of the photo and is brighter than what lies beyond the
    most edges, the largest of those."""
    grey = smooth(grey)
    middle = otsu(grey)
    thresholds = [middle] + [otsu(v) for v in (grey[grey > middle], grey[grey <= middle])
                             if v.size]
    best, best_key = None, (0, 0)
    for threshold in thresholds:
        bright = grey > threshold
        labels, sizes = components(ndimage.binary_fill_holes(bright))
        if not sizes.any():
            continue
        region = labels == sizes.argmax()
        corners = fit_edges(region, quad_corners(region))
        x, y = corners.T
        area = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2   # shoelace
        if not (area >= SHEET_AREA * grey.size and SHEET_FILL <= sizes.max() / area <= 1 / SHEET_FILL
                and (bright & region).sum() > SHEET_PAPER * area):   # not a filled ring
            continue
        # More edges that step first: a region that runs into the table to the frame
        # has fewer.
        key = (edges_that_step(grey, corners) or 0, area)
        if key[0] and key > best_key:
            best, best_key = corners, key
    return best


def homography(source, target):
    """The 3x3 matrix mapping each of four points (x, y) ``source`` onto ``target``."""
    rows, values = [], []
    for (x, y), (u, v) in zip(source, target):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        values += [u, v]
    return np.append(np.linalg.solve(rows, values), 1).reshape(3, 3)


def straighten(grey, corners):
    """The sheet inside ``corners`` set straight (a perspective transform through Pillow)
    onto a rectangle of its mean side lengths, SHEET_MARGIN cut off each side; and the
    3x3 matrix that maps its pixels back into ``grey``'s."""
    tl, tr, br, bl = corners
    width = (np.hypot(*(tr - tl)) + np.hypot(*(br - bl))) / 2
    height = (np.hypot(*(bl - tl)) + np.hypot(*(br - tr))) / 2
    size = (max(1, round(width * (1 - 2 * SHEET_MARGIN))),
            max(1, round(height * (1 - 2 * SHEET_MARGIN))))
    inner = np.diag([(1 - 2 * SHEET_MARGIN) / size[0], (1 - 2 * SHEET_MARGIN) / size[1], 1.0])
    inner[:2, 2] = SHEET_MARGIN         # output pixels onto the unit square, inside the margin
    to_grey = homography([(0, 0), (1, 0), (1, 1), (0, 1)], corners) @ inner
    coefficients = (to_grey / to_grey[2, 2]).ravel()[:8]
    sheet = Image.fromarray(grey, 'F').transform(size, Image.Transform.PERSPECTIVE,
                                                 coefficients, Image.BILINEAR)
    return np.asarray(sheet, dtype=np.float32), to_grey


# --- the ink -----------------------------------------------------------------------------------

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


def paper_level(ink):
    """The paper's level under the ink, at the scale of the whole photo: the darkest of
    tiles 1/32 of the longer side, opened over 5x5 tiles (wider than any stroke), the
    tiles continued past the edges as a shade goes on (odd reflection), a 3x3 mean, and
    bilinear back to the photo's size."""
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


def remove_ruled_lines(soft):
    """soft without ruled lines: bands of rows (then columns) whose ink covers at least
    LINE_COVERAGE of the width and that are thinner than LINE_THIN times the digit's
    strokes (measured on the ink elsewhere). A 1 or a 7's bar is as thick as the other
    strokes and stays; where the digit crosses a line, its stroke is bridged."""
    return _remove_lines_along_rows(_remove_lines_along_rows(soft.T).T)


def crop_to_ink(soft):
    """The ink's bounding box cut out, without specks (components under SPECK times the
    largest; the soft edges of the kept ones stay); strokes thinner than MNIST's
    (THINNEST_STROKE in the 20x20 box) thickened to its median width. Raises
    HandwritingError when nothing is left."""
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
    """The crop resized so that its longer side is BOX pixels, keeping its aspect
    (Lanczos: each pixel a weighted mean of its area), and its ink scaled to peak at 1."""
    size = fitted_size(crop.shape[1], crop.shape[0], BOX)
    fitted = np.asarray(Image.fromarray(crop.astype(np.float32), 'F').resize(size, Image.LANCZOS))
    fitted = np.clip(fitted, 0, None)
    top = fitted.max()
    return (fitted / top if top > 0 else fitted).astype(np.float32)


def centre_in_frame(fitted):
    """fitted placed in a FRAME x FRAME frame with its centre of mass on (CENTRE, CENTRE),
    shifted by whole pixels as MNIST was (so within half a pixel). A digit whose mass
    lies far to one side of its box (a 7 of a long bar and a thin stem) would leave the
    frame there; it is kept whole instead, as near the centre as the frame allows."""
    cy, cx = ndimage.center_of_mass(fitted)
    h, w = fitted.shape
    top = min(max(int(np.floor(CENTRE - cy + 0.5)), 0), FRAME - h)
    left = min(max(int(np.floor(CENTRE - cx + 0.5)), 0), FRAME - w)
    frame = np.zeros((FRAME, FRAME), dtype=np.float32)
    frame[top:top + h, left:left + w] = fitted
    return frame


def on_paper(image):
    """The steps up to 'ruled lines removed', the ink on the sheet (soft) and the Sheet
    of the photo: ``image`` is a PIL image or a 2-D array (see grey_levels). Raises
    HandwritingError: no ink, or no paper to find."""
    grey = grey_levels(image)
    corners = find_sheet(grey)
    if corners is None:
        if np.percentile(grey, 99) < DARK:
            raise HandwritingError('too dark to find a sheet of paper')
        sheet, to_grey = grey, np.eye(3)
    else:
        sheet, to_grey = straighten(grey, corners)
    steps = [('grey', grey), ('sheet', sheet)]
    steps.append(('ink bright on dark', ink_bright(sheet)))
    steps.append(('paper flattened', flatten_paper(steps[-1][1])))
    soft = remove_ruled_lines(steps[-1][1])
    steps.append(('ruled lines removed', soft))
    mask = soft > 0.5
    if corners is None and sum(map(np.any, (mask[0], mask[-1], mask[:, 0], mask[:, -1]))) >= 3:
        raise HandwritingError('no sheet of paper found (the table alone?)')
    size = image.size if isinstance(image, Image.Image) else np.shape(image)[::-1]
    to_image = np.diag([size[0] / grey.shape[1], size[1] / grey.shape[0], 1]) @ to_grey
    fractions = None if corners is None else corners / (grey.shape[1], grey.shape[0])
    return steps, soft, Sheet(fractions, to_image, tuple(size))


@dataclasses.dataclass
class Sheet:
    """Where the steps' sheet lies in the photo: ``corners`` as Prepared.sheet,
    ``to_image`` the 3x3 matrix from the sheet's pixels to the photo's, ``size`` the
    photo's (width, height)."""
    corners: np.ndarray
    to_image: np.ndarray
    size: tuple

    def box(self, left, top, right, bottom):
        """A box of the sheet's pixels as the photo's (left, top, right, bottom) box."""
        points = self.to_image @ [[left, right, right, left], [top, top, bottom, bottom],
                                  [1, 1, 1, 1]]
        x, y = points[:2] / points[2]
        return (int(np.clip(np.floor(x.min()), 0, self.size[0])),
                int(np.clip(np.floor(y.min()), 0, self.size[1])),
                int(np.clip(np.ceil(x.max()), 0, self.size[0])),
                int(np.clip(np.ceil(y.max()), 0, self.size[1])))


def mnist_steps(soft):
    """'cropped to the ink', 'fitted into 20x20' and 'centred in 28x28' of one digit."""
    crop = crop_to_ink(soft)
    fitted = fit_box(crop)
    return [('cropped to the ink', crop), ('fitted into 20x20', fitted),
            ('centred in 28x28', centre_in_frame(fitted))]


def prepare(image):
    """A PIL image or a 2-D array of grey levels (see grey_levels), prepared like MNIST:
    a Prepared with every step and the network's input. Raises HandwritingError."""
    steps, soft, sheet = on_paper(image)
    steps += mnist_steps(soft)
    return Prepared(steps, steps[-1][1].reshape(FRAME * FRAME), sheet.corners)


def prepare_file(source):
    """load_image, then prepare: the Prepared of a path or a binary file object."""
    return prepare(load_image(source))


# --- a number -----------------------------------------------------------------------------------

def digit_parts(soft):
    """The ink's digits, left to right: a list of (labels, (left, top, right, bottom)) of
    its components (specks dropped). Components over one another belong to one digit (a
    5's bar, a broken 4) when near; far apart, the ink forms no row. Raises
    HandwritingError."""
    ink = soft > 0.5
    if not ink.any():
        raise HandwritingError('no ink found (blank paper?)')
    # Grown by half a stroke first, so that a stroke broken by a faint pen stays whole.
    grown, _ = components(ndimage.binary_dilation(ink, iterations=round(stroke_width(ink) / 2)))
    labels = np.where(ink, grown, 0)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    parts = [([k], [s[1].start, s[0].start, s[1].stop, s[0].stop])
             for k, s in enumerate(ndimage.find_objects(labels), 1)
             if s is not None and sizes[k] >= SPECK * sizes.max()]
    if len(parts) > 4 * MAX_DIGITS:
        raise HandwritingError('more than %d digits' % MAX_DIGITS)
    merged = True
    while merged:
        merged = False
        for i, (ka, a) in enumerate(parts):
            for j, (kb, b) in enumerate(parts[i + 1:], i + 1):
                overlap = min(a[2], b[2]) - max(a[0], b[0])
                if overlap < 0.5 * min(a[2] - a[0], b[2] - b[0]):
                    continue
                if max(a[1], b[1]) - min(a[3], b[3]) > 0.6 * max(a[3] - a[1], b[3] - b[1]):
                    raise HandwritingError('the ink forms no row (digits over one another)')
                parts[i] = (ka + kb, [min(a[0], b[0]), min(a[1], b[1]),
                                      max(a[2], b[2]), max(a[3], b[3])])
                del parts[j]
                merged = True
                break
            if merged:
                break
    parts.sort(key=lambda part: part[1][0])
    top, bottom = np.median([p[1][1] for p in parts]), np.median([p[1][3] for p in parts])
    slack = (bottom - top) / 4
    if any(not top - slack <= (b[1] + b[3]) / 2 <= bottom + slack for _, b in parts):
        raise HandwritingError('the ink forms no row')
    if len(parts) > MAX_DIGITS:
        raise HandwritingError('more than %d digits (%d)' % (MAX_DIGITS, len(parts)))
    return labels, parts


def prepare_number(image):
    """The digits of a number written in a row, each prepared like MNIST: a Number.
    ``image`` as prepare takes. Raises HandwritingError (no ink, more than MAX_DIGITS
    digits, ink that forms no row)."""
    steps, soft, sheet = on_paper(image)
    labels, parts = digit_parts(soft)
    inputs, boxes = [], []
    for keys, (left, top, right, bottom) in parts:
        mine = np.isin(labels, keys)
        near = ndimage.binary_dilation(mine, np.ones((5, 5))) & ~((labels > 0) & ~mine)
        inputs.append(mnist_steps(np.where(near, soft, 0))[-1][1].reshape(FRAME * FRAME))
        boxes.append(sheet.box(left, top, right, bottom))
    return Number(steps, np.stack(inputs), boxes, sheet.corners, sheet.size)
