"""A learner's digit (or number, ``prepare_number``) prepared as MNIST's were: light ink on
black, fitted into 20x20, centred by mass in 28x28; each named step ('grey' to 'centred in
28x28') an array ``classify.py --explain`` draws. docs/classify.md says how and why."""

import dataclasses
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from scipy import ndimage

MAX_PIXELS = 64_000_000   # a 48-50 MP phone photo still opens; a decompression bomb does not
WORK_SIDE = 512           # the longer side the steps work at: ample for a 20x20 box
FRAME, BOX = 28, 20       # MNIST's frame and the box its ink is fitted into
CENTRE = 14.0             # MNIST's centre of mass (row and column; the test set: 13.99, 14.01)
MNIST_STROKE = 2.5        # MNIST's median stroke width in the 20x20 box (stroke_width)
THINNEST_STROKE = 2.0     # thinner than this in the box (MNIST's 25th percentile): thickened
LINE_COVERAGE = 0.5       # a ruled line covers at least this much of a row (or column)
SPECK = 0.1               # an ink component below this times the largest is a speck
MAX_DIGITS = 12
SHEET_AREA = 0.2          # a sheet covers at least this much of the photo,
SHEET_FILL = 0.9          # fills its four corners' quadrilateral (straight edges),
SHEET_PAPER = 0.8         # is mostly paper (not ink) inside them,
SHEET_STEP = 0.08         # and is this much brighter than the table beyond each edge
SHEET_MARGIN = 0.03       # cut this far (of its sides) inside the sheet's edges


class HandwritingError(Exception):
    """An image that cannot be read or holds no digit; the message says why, briefly."""


@dataclasses.dataclass
class Prepared:
    """Steps as (name, array), inputs (784 a digit), the sheet's corners; a number's boxes."""
    steps: list
    inputs: np.ndarray
    sheet: np.ndarray = None
    boxes: list = None
    size: tuple = None

    @property
    def input(self):
        return self.inputs[0]


Number = Prepared   # what prepare_number gives: boxes and size set


def flat(image, mode='L'):
    """``image`` in ``mode``: 16-bit and float grey scaled to 8 bits, transparency white."""
    if image.mode in ('I', 'I;16', 'I;16B', 'I;16L', 'F'):
        values = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith('I;16') else max(values.max(), 1.0)
        image = Image.fromarray(np.clip(values / top * 255, 0, 255).astype(np.uint8), 'L')
    elif image.mode in ('RGBA', 'LA', 'PA', 'La', 'RGBa') or 'transparency' in image.info:
        image = Image.alpha_composite(Image.new('RGBA', image.size, 'white'), image.convert('RGBA'))
    return image.convert(mode)


def load_image(source, mode='L'):
    """A path or binary file's image upright, in ``mode`` (flat), its size checked unread."""
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
            image.info['decoded_scale'] = width / image.size[0]   # boxes in the photo's pixels
            return flat(ImageOps.exif_transpose(image), mode)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
            raise HandwritingError('cannot decode the image (%s)' % e) from None


def load_photo(source, side):
    """The photo as a person sees it, in RGB, its longer side at most ``side``."""
    image = load_image(source, 'RGB')
    image.thumbnail((side, side), Image.BOX)
    return image


def fitted_size(width, height, side):
    """(width, height) scaled so that the longer side is ``side``, the aspect kept."""
    scale = side / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def grey_levels(image):
    """Grey levels in [0, 1] of a PIL image or 2-D array, at most WORK_SIDE a side."""
    if not isinstance(image, Image.Image):
        values = np.asarray(image)
        if values.ndim != 2 or values.size == 0:
            raise HandwritingError('not a 2-D image')
        values = values / 255.0 if values.dtype == np.uint8 else values.astype(np.float32)
        if max(values.shape) <= WORK_SIDE:
            return np.clip(values, 0, 1).astype(np.float32)
        image = Image.fromarray((np.clip(values, 0, 1) * 255).astype(np.uint8))
    image = flat(image)
    if max(image.size) > WORK_SIDE:     # each pixel the mean of its area
        image = image.resize(fitted_size(*image.size, WORK_SIDE), Image.BOX)
    return np.asarray(image, dtype=np.float32) / 255.0


def components(mask):
    """The 8-connected components of a boolean mask: (labels 0..n, pixels of each)."""
    labels, _ = ndimage.label(mask, np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels, sizes


def otsu(values, bins=256):
    """Otsu's threshold of values in [0, 1] (0.5 for a single level: nothing to separate)."""
    counts, edges = np.histogram(values, bins=bins, range=(0, 1))
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * (edges[:-1] + edges[1:]) / 2)
    with np.errstate(divide='ignore', invalid='ignore'):
        between = weight * (weight[-1] - weight) * (
            mass / weight - (mass[-1] - mass) / (weight[-1] - weight)) ** 2
    return float(edges[1:][np.nanargmax(between[:-1])]) if np.any(between[:-1] > 0) else 0.5


def fit_edges(region):
    """A region's corners, where lines fitted to its edges meet (a cut-off corner stays)."""
    ys, xs = np.nonzero(region)
    corners = np.array([(xs[k], ys[k]) for k in (np.argmax(sx * xs + sy * ys) for sx, sy in
                        ((-1, -1), (1, -1), (1, 1), (-1, 1)))], dtype=np.float64)
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
        lines.append((centre, np.linalg.svd(near - centre, full_matrices=False)[2][0]))
    try:
        return np.array([p + np.linalg.solve(np.array([u, -v]).T, q - p)[0] * u
                         for (p, u), (q, v) in zip(lines[-1:] + lines[:-1], lines)])
    except np.linalg.LinAlgError:
        return corners


def edges_that_step(grey, corners):
    """How many edges (not at the border) step down SHEET_STEP outwards; None if one does not."""
    h, w = grey.shape
    reach, centre, found = 0.03 * max(h, w) + 2, corners.mean(axis=0), 0
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
    """The corners (x, y) of the sheet in ``grey``, clockwise from the top left, or None."""
    grey = ndimage.uniform_filter(grey.astype(np.float32), 3, mode='nearest')   # JPEG's noise
    middle = otsu(grey)
    best, best_key = None, (0, 0)
    for threshold in [middle] + [otsu(v) for v in (grey[grey > middle], grey[grey <= middle])
                                 if v.size]:
        bright = grey > threshold
        # The ink's holes filled (quicker than binary_fill_holes, a pixel at a time)
        rest, _ = ndimage.label(~bright)
        outside = np.unique(np.concatenate([rest[0], rest[-1], rest[:, 0], rest[:, -1]]))
        labels, sizes = components(bright | ~np.isin(rest, outside))
        if sizes.max() < SHEET_FILL * SHEET_AREA * grey.size:    # too small to be a sheet
            continue
        region = labels == sizes.argmax()
        corners = fit_edges(region)
        x, y = corners.T
        area = abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2   # shoelace
        if area < SHEET_AREA * grey.size or not SHEET_FILL <= sizes.max() / area <= 1 / SHEET_FILL \
                or (bright & region).sum() < SHEET_PAPER * area:    # a light ring, filled
            continue
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
    """The sheet set straight, SHEET_MARGIN cut off; the 3x3 matrix back to ``grey``'s pixels."""
    keep = 1 - 2 * SHEET_MARGIN
    sides = np.hypot(*(np.roll(corners, -1, axis=0) - corners).T)   # top, right, bottom, left
    size = tuple(max(1, round(pair.mean() * keep)) for pair in (sides[::2], sides[1::2]))
    inner = np.array([[keep / size[0], 0, SHEET_MARGIN], [0, keep / size[1], SHEET_MARGIN],
                      [0, 0, 1]])       # its pixels onto the unit square, inside the margin
    to_grey = homography([(0, 0), (1, 0), (1, 1), (0, 1)], corners) @ inner
    sheet = Image.fromarray(grey, 'F').transform(
        size, Image.Transform.PERSPECTIVE, (to_grey / to_grey[2, 2]).ravel()[:8], Image.BILINEAR)
    return np.asarray(sheet, dtype=np.float32), to_grey


def ink_bright(grey):
    """1 = ink: inverted if the ink (the extreme farthest from the median) is dark."""
    grey = ndimage.uniform_filter(grey.astype(np.float32), 3, mode='nearest')   # JPEG's noise
    paper = float(np.median(grey))
    return 1.0 - grey if paper - grey.min() >= grey.max() - paper else grey


def flatten_paper(ink):
    """Paper 0, ink 1, soft edges: the paper's uneven level taken out. Raises HandwritingError."""
    # The paper's level: each tile's darkest, opened over 5x5 tiles (wider than a stroke)
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
    paper = np.asarray(Image.fromarray(tiles.astype(np.float32), 'F').resize(
        (tiles.shape[1] * block, tiles.shape[0] * block), Image.BILINEAR))[:h, :w]
    lifted = np.clip((ink - paper) / np.maximum(1 - paper, 0.05), 0, 1)
    threshold = otsu(lifted)
    above = lifted[lifted > threshold]
    level = float(np.median(above)) if above.size else 0.0
    if level < 0.15:    # ink must differ from the paper by this much of black-to-white
        raise HandwritingError('no ink found (blank paper?)')
    return np.clip((lifted - threshold / 2) / (level - threshold / 2), 0, 1).astype(np.float32)


def stroke_width(mask):
    """The strokes' mean width: twice the area over the outline's length; None for no ink."""
    area = int(mask.sum())
    edges = sum(np.count_nonzero(np.diff(np.pad(mask, 1), axis=axis)) for axis in (0, 1))
    return 2 * area / (edges * np.pi / 4) if area else None    # pi/4: a curve's length an edge


def remove_ruled_lines(soft, rows_only=False):
    """soft without ruled lines (thinner than the digit's strokes), the strokes bridged."""
    if not rows_only:
        return remove_ruled_lines(remove_ruled_lines(soft.T, True).T, True)
    mask = soft > 0.5
    across = mask.mean(axis=1) >= LINE_COVERAGE
    stroke = stroke_width(mask & ~across[:, None])
    if not across.any() or stroke is None:  # nothing but those rows: a big 1, a bar; kept
        return soft
    out, h = soft.copy(), len(across)
    traced = (soft > 0.02).mean(axis=1) >= LINE_COVERAGE     # the lines' soft edges
    rows, padded = np.flatnonzero(across), np.pad(soft, ((1, 1), (0, 0)))
    for band in np.split(rows, np.flatnonzero(np.diff(rows) > 1) + 1):
        thickness = len(band)
        if thickness > 0.6 * stroke:
            continue        # as thick as the digit's strokes: a stroke, not a line
        top, bottom = band[0], band[-1]
        while top > 0 and traced[top - 1] and band[0] - top < thickness + 2:
            top -= 1
        while bottom < h - 1 and traced[bottom + 1] and bottom - band[-1] < thickness + 2:
            bottom += 1
        out[top:bottom + 1] = np.minimum(padded[top], padded[bottom + 2])   # strokes bridged
    return out


def crop_to_ink(soft):
    """The ink's box without specks, thin strokes thickened. Raises HandwritingError."""
    labels, sizes = components(soft > 0.5)
    if not sizes.any():
        raise HandwritingError('no ink found (blank paper?)')
    kept = (sizes >= SPECK * sizes.max())[labels] & (labels > 0)
    near = ndimage.binary_dilation(kept, np.ones((5, 5)))     # with the grey edges around
    ink = np.where(near & ~(labels > 0) | kept, soft, 0).astype(np.float32)
    crop = ink[ndimage.find_objects((ink > 0.05).astype(int))[0]]
    scale = BOX / max(crop.shape)           # box pixels per photo pixel
    width = stroke_width(crop > 0.5)
    if width is not None and width * scale < THINNEST_STROKE:
        radius = round((MNIST_STROKE / scale - width) / 2)
        crop = ndimage.maximum_filter(np.pad(crop, radius), 2 * radius + 1)
    return crop


def centre_in_frame(fitted):
    """fitted in the frame, its centre of mass on CENTRE by whole pixels, or near it."""
    room = FRAME - np.array(fitted.shape)
    top, left = np.clip(np.floor(CENTRE - np.array(ndimage.center_of_mass(fitted)) + 0.5),
                        0, room).astype(int)
    return np.pad(fitted, ((top, room[0] - top), (left, room[1] - left))).astype(np.float32)


def mnist_steps(soft):
    """The last three steps of one digit's ink."""
    crop = crop_to_ink(soft)
    size = fitted_size(crop.shape[1], crop.shape[0], BOX)
    fitted = np.asarray(Image.fromarray(crop.astype(np.float32), 'F').resize(size, Image.LANCZOS))
    fitted = (np.clip(fitted, 0, None) / max(fitted.max(), 1e-12)).astype(np.float32)
    return [('cropped to the ink', crop), ('fitted into 20x20', fitted),
            ('centred in 28x28', centre_in_frame(fitted))]


def on_paper(image, all_paper=False):
    """(steps, sheet, the matrix from the sheet to the image, its size); all_paper: no sheet."""
    grey = grey_levels(image)
    corners = None if all_paper else find_sheet(grey)
    if corners is None and np.percentile(grey, 99) < 0.3:
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
    return steps, None if corners is None else corners / grey.shape[::-1], to_image, tuple(size)


def prepare(image, all_paper=False):
    """A PIL image or 2-D array (grey_levels) prepared like MNIST. Raises HandwritingError."""
    steps, corners, _, _ = on_paper(image, all_paper)
    steps += mnist_steps(steps[-1][1])
    return Prepared(steps, steps[-1][1].reshape(1, FRAME * FRAME), corners)


def digit_parts(soft):
    """(labels, the digits left to right as (their labels, box)). Raises HandwritingError."""
    ink = soft > 0.5
    if not ink.any():
        raise HandwritingError('no ink found (blank paper?)')
    grown, _ = components(ndimage.binary_dilation(
        ink, iterations=max(1, round(stroke_width(ink) / 2))))   # 0 would grow without end
    labels = np.where(ink, grown, 0)
    sizes = np.bincount(labels[ink])    # no 0s: the ink lies inside its grown parts
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
    """The digits of a number written in a row, each prepared like MNIST: a Number."""
    steps, corners, to_image, size = on_paper(image, all_paper)
    soft = steps[-1][1]
    labels, digits = digit_parts(soft)
    inputs, boxes = [], []
    for keys, (left, top, right, bottom) in digits:
        mine = np.isin(labels, keys)
        near = ndimage.binary_dilation(mine, np.ones((5, 5))) & ~((labels > 0) & ~mine)
        inputs.append(mnist_steps(np.where(near, soft, 0))[-1][1].reshape(FRAME * FRAME))
        xyz = to_image @ [[left, right, right, left], [top, top, bottom, bottom], [1] * 4]
        xy = np.clip(xyz[:2] / xyz[2], 0, np.reshape(size, (2, 1)))    # in the image's pixels
        boxes.append(tuple(int(v) for v in (*np.floor(xy.min(1)), *np.ceil(xy.max(1)))))
    return Number(steps, np.stack(inputs), corners, boxes, size)
