"""The sheet of paper in a photo of it on a table, found (find_sheet) and set straight
(straighten) for handwriting.prepare's step 'sheet'; and the smoothing, Otsu's threshold
and connected components that handwriting.py shares (scipy.ndimage does the filters)."""

import numpy as np
from PIL import Image
from scipy import ndimage

SHEET_AREA = 0.2          # a sheet covers at least this much of the photo,
SHEET_FILL = 0.9          # fills its four corners' quadrilateral (straight edges),
SHEET_PAPER = 0.8         # is mostly paper (not ink) inside them,
SHEET_STEP = 0.08         # and is this much brighter than the table beyond each edge
SHEET_MARGIN = 0.03       # cut this far (of its sides) inside the sheet's edges


def smooth(values):
    """The 3x3 mean: noise and JPEG's ringing damped before anything is looked for."""
    return ndimage.uniform_filter(values.astype(np.float32), 3, mode='nearest')


def components(mask):
    """The 8-connected components of a boolean mask: (labels 0..n, pixels of each)."""
    labels, _ = ndimage.label(mask, np.ones((3, 3)))
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels, sizes


def otsu(values, bins=256):
    """Otsu's threshold of values in [0, 1]: the split that best separates two classes."""
    counts, edges = np.histogram(values, bins=bins, range=(0, 1))
    weight = np.cumsum(counts)
    mass = np.cumsum(counts * (edges[:-1] + edges[1:]) / 2)
    with np.errstate(divide='ignore', invalid='ignore'):
        between = weight * (weight[-1] - weight) * (
            mass / weight - (mass[-1] - mass) / (weight[-1] - weight)) ** 2
    if not np.any(between[:-1] > 0):
        return 0.5      # a single level: nothing to separate
    return float(edges[1:][np.nanargmax(between[:-1])])


def fit_edges(region):
    """The corners (x, y) of a boolean region that is a quadrilateral turned under 45
    degrees, clockwise from the top left: its extreme pixels along the diagonals, then
    where the lines through its outline near each edge meet (so a corner cut off by a
    shadow does not move them)."""
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
    """How many of the quadrilateral's edges step down from inside to outside by SHEET_STEP
    (medians of points either side), leaving out those at the photo's border; None when
    one does not."""
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
    """The corners (x, y) of the sheet of paper in ``grey``, clockwise from the top left,
    or None (all paper, or none): of the bright regions at Otsu's threshold and the upper
    and lower classes' own, the one that passes the SHEET_ tests with the most edges that
    step (one that runs into the table to the frame has fewer), then the largest."""
    grey = smooth(grey)
    middle = otsu(grey)
    best, best_key = None, (0, 0)
    for threshold in [middle] + [otsu(v) for v in (grey[grey > middle], grey[grey <= middle])
                                 if v.size]:
        bright = grey > threshold
        # Holes filled (the ink): the rest's parts that do not reach the border. (Quicker
        # than ndimage.binary_fill_holes, which grows the outside a pixel at a time.)
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
    """The sheet inside ``corners`` set straight (Pillow's perspective transform) onto a
    rectangle of its mean sides, SHEET_MARGIN cut off each; and the 3x3 matrix from its
    pixels back to ``grey``'s."""
    tl, tr, br, bl = corners
    keep = 1 - 2 * SHEET_MARGIN
    size = (max(1, round((np.hypot(*(tr - tl)) + np.hypot(*(br - bl))) / 2 * keep)),
            max(1, round((np.hypot(*(bl - tl)) + np.hypot(*(br - tr))) / 2 * keep)))
    inner = np.array([[keep / size[0], 0, SHEET_MARGIN], [0, keep / size[1], SHEET_MARGIN],
                      [0, 0, 1]])       # its pixels onto the unit square, inside the margin
    to_grey = homography([(0, 0), (1, 0), (1, 1), (0, 1)], corners) @ inner
    sheet = Image.fromarray(grey, 'F').transform(size, Image.Transform.PERSPECTIVE,
                                                 (to_grey / to_grey[2, 2]).ravel()[:8],
                                                 Image.BILINEAR)
    return np.asarray(sheet, dtype=np.float32), to_grey
