"""The visualiser's figures: filters, pooled maps and test digits laid out on a grid of
cells, placed in pixels so every PNG's size follows from its grid.

Write-up 001 drew each small image into an axes of its own; the figures here hold
hundreds of them, and creating that many axes took most of the visualiser's time. So
each figure's cells are composed into one array (the cells, resampled to their size in
pixels, with empty gaps between them) and drawn as one image: the same look, one
``imshow`` instead of an axes per cell. Captions are plain figure text.

Every plot_* function returns the matplotlib Figure; the Grid it was laid out on is
``fig.grid_layout``.
"""

import functools
import math

import numpy as np
from PIL import Image

from deep_mnist.handwriting import fitted_size

# The geometry, in pixels at DPI; a figure's size follows from its grid (Grid.size()).
DPI = 100
CELL = 40           # one filter or map
GAP = 4             # between cells of one row group
HEADER_GAP = 16     # between the filter rows and the first digit
DIGIT_GAP = 10      # between the row pairs of two digits (conv2)
LABEL_W = 86        # left margin for the row labels ("7 -> 7")
LABEL_PAD = 5       # between a row label and its cell
MARGIN = 10         # around the whole figure
DIGIT_CELL = 72     # misclassified.png: one digit
CAPTION_H = 16      # misclassified.png: the caption line above each digit
CAPTION_PAD = 3     # between that caption and its digit
BORDER_W = 1        # the light frame drawn just outside each cell

# The header: a bold title, then the subtitle's lines, wrapped to the figure's width.
TITLE_TOP = 8
SUBTITLE_TOP = 29
TITLE_SIZE = 11     # points
SUBTITLE_SIZE = 8.5
LINE_SPACING = 1.2  # matplotlib's default, in multiples of the font size
SUBTITLE_LINE_H = SUBTITLE_SIZE * LINE_SPACING * DPI / 72
HEADER_PAD = 8      # below the subtitle's last line
LABEL_SIZE = 9
CAPTION_SIZE = 9
INDEX_SIZE = 6.5
NOTE_SIZE = 10

CMAP = 'gray_r'     # 001's: 0 is white, 1 is black
BORDER = 0.3        # the frame's value in CMAP: light grey
WRONG = '#c0001a'   # labels of misclassified digits
GREY = '0.35'
MISCLASSIFIED_COLS = 10
ARROW = '\u2192'


# --- text ------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _text_width(text, size):
    """Width in pixels of one line of ``text`` in matplotlib's default font."""
    from matplotlib.font_manager import FontProperties
    return _renderer().get_text_width_height_descent(text, FontProperties(size=size),
                                                     ismath=False)[0]


@functools.lru_cache(maxsize=1)
def _renderer():
    from matplotlib.backends.backend_agg import RendererAgg
    return RendererAgg(1, 1, DPI)


def _fitting(word, width, size):
    """``word`` in pieces no wider than ``width`` pixels (a long path, say)."""
    pieces = []
    while _text_width(word, size) > width and len(word) > 1:
        low, high = 1, len(word) - 1     # the longest prefix that fits, at least 1
        while low < high:
            mid = (low + high + 1) // 2
            low, high = (mid, high) if _text_width(word[:mid], size) <= width else (low, mid - 1)
        pieces.append(word[:low])
        word = word[low:]
    return pieces + [word]


def wrap(text, width, size=SUBTITLE_SIZE):
    """The lines of ``text`` (its own line breaks kept), broken between words so that
    none is wider than ``width`` pixels; a word wider than that is broken too. A line is
    measured as its words and spaces, each measured once."""
    space = _text_width(' ', size)
    lines = []
    for paragraph in text.split('\n'):
        line, used = '', 0.0
        for word in paragraph.split(' '):
            *whole, word = _fitting(word, width, size)
            for piece in whole:
                lines += [line] if line else []
                line, used = piece, _text_width(piece, size)
            w = _text_width(word, size)
            if line and used + space + w > width:
                lines.append(line)
                line, used = '', 0.0
            line, used = (line + ' ' + word, used + space + w) if line else (word, w)
        lines.append(line)
    return lines


def header_height(subtitle_lines):
    """Pixels from the top of a figure to below a header of that many subtitle lines."""
    return SUBTITLE_TOP + math.ceil(subtitle_lines * SUBTITLE_LINE_H) + HEADER_PAD


def new_figure(width, height):
    """A pyplot figure of exactly width x height pixels at DPI."""
    import matplotlib.pyplot as plt
    # +0.5: matplotlib truncates width * dpi to whole pixels.
    return plt.figure(figsize=((width + 0.5) / DPI, (height + 0.5) / DPI), dpi=DPI)


def draw_header(fig, title, lines):
    """The bold title and the (already wrapped) subtitle lines, at the top left."""
    width, height = fig.bbox.width, fig.bbox.height
    fig.text(MARGIN / width, 1 - TITLE_TOP / height, title, fontsize=TITLE_SIZE,
             weight='bold', va='top', parse_math=False)
    fig.text(MARGIN / width, 1 - SUBTITLE_TOP / height, '\n'.join(lines),
             fontsize=SUBTITLE_SIZE, linespacing=LINE_SPACING, color=GREY, va='top',
             parse_math=False)


# --- how a cell's values become gray levels ---------------------------------------

def spread(values):
    """Each image on its own scale, as imshow draws it: its minimum white, maximum black
    (all white when it is constant)."""
    values = np.asarray(values, dtype=float)
    low, high = values.min(), values.max()
    return (values - low) / (high - low) if high > low else np.zeros_like(values)


def from_zero(values):
    """A map of ReLU outputs (>= 0) on its own scale from 0: white is exactly 0, black
    the map's maximum; a map that is 0 everywhere is all white."""
    values = np.asarray(values, dtype=float)
    high = values.max()
    return np.clip(values / high, 0, 1) if high > 0 else np.zeros_like(values)


def centred(values, limit):
    """Signed values on a shared scale: -limit white, 0 mid grey, +limit black."""
    limit = limit or 1.0
    return np.clip((np.asarray(values, dtype=float) / limit + 1) / 2, 0, 1)


def resample(values, size, smooth=False):
    """A 2-D array resampled to size x size pixels (Pillow): nearest-neighbour (blocks,
    as imshow's 'nearest'), or bilinear when ``smooth``."""
    image = Image.fromarray(np.asarray(values, np.float32), 'F')
    return np.asarray(image.resize((size, size), Image.BILINEAR if smooth else Image.NEAREST),
                      float)


def fit_cell(values, cell):
    """A 2-D array resized to fit a cell x cell square, keeping its aspect: blocks when
    enlarged (the pixels stay visible), each pixel the mean of its area when shrunk."""
    size = fitted_size(values.shape[1], values.shape[0], cell)
    image = Image.fromarray(np.asarray(values, np.float32), 'F')
    return np.asarray(image.resize(size, Image.NEAREST if size[0] >= values.shape[1]
                                   else Image.BOX), float)


# --- the grid ----------------------------------------------------------------------

class Canvas:
    """Cells of gray levels placed in pixels on one sheet, drawn as one image in 001's
    gray_r under the header; text placed in pixels."""

    def __init__(self, width, height, subtitle_lines):
        self.width, self.height, self.subtitle = width, height, subtitle_lines
        self.pixels = None

    def size(self):
        """(width, height) of the PNG in pixels."""
        return self.width, self.height

    def figure(self, title):
        """The figure with its header, and an empty sheet of cells to fill."""
        fig = new_figure(*self.size())
        draw_header(fig, title, self.subtitle)
        fig.grid_layout = self
        self.pixels = np.full((self.height, self.width), np.nan)   # NaN: the background
        return fig

    def frame(self, values, x, y):
        """Lay gray levels in [0, 1] with their top left at (x, y), framed in light grey."""
        h, w = values.shape
        self.pixels[y - BORDER_W:y + h + BORDER_W, x - BORDER_W:x + w + BORDER_W] = BORDER
        self.pixels[y:y + h, x:x + w] = values

    def fit(self, values, x, y, cell):
        """fit_cell's values centred in the cell x cell square at (x, y), framed."""
        values = fit_cell(values, cell)
        self.frame(values, x + (cell - values.shape[1]) // 2, y + (cell - values.shape[0]) // 2)

    def draw(self, fig):
        """All cells as one image in 001's gray_r, pixel for pixel in the PNG. An axes
        spans it (not figimage, which a high-resolution screen would draw at half size)."""
        ax = fig.add_axes([0, 0, self.width / fig.bbox.width, self.height / fig.bbox.height])
        ax.set_axis_off()
        ax.imshow(np.ma.masked_invalid(self.pixels), cmap=CMAP, vmin=0, vmax=1,
                  interpolation='nearest', extent=(0, self.width, self.height, 0),
                  aspect='auto')

    def text(self, fig, x, y, text, **kwargs):
        """Figure text at (x, y) pixels from the top left."""
        return fig.text(x / fig.bbox.width, (self.height - y) / fig.bbox.height, text,
                        parse_math=False, **kwargs)


class Grid(Canvas):
    """Image cells in row groups, placed in pixels, so a figure's size is exact.

    ``groups`` lists the rows of each group: the first group (the filters) is set off
    by ``header_gap``, the others by ``group_gap``; rows of one group by GAP. The
    subtitle is wrapped to the figure's width, and the header grows by its lines.
    """

    def __init__(self, groups, cols, subtitle='', cell=CELL, group_gap=GAP,
                 header_gap=HEADER_GAP, left=LABEL_W, row_top=0):
        self.cell, self.left, self.cols = cell, left, cols
        width = left + cols * cell + (cols - 1) * GAP + MARGIN
        lines = wrap(subtitle, width - 2 * MARGIN)
        self.row_y = []
        y = header_height(len(lines))
        for g, rows in enumerate(groups):
            if g:
                y += header_gap if g == 1 else group_gap
            for r in range(rows):
                y += row_top + (GAP if r else 0)
                self.row_y.append(y)
                y += cell
        super().__init__(width, y + MARGIN, lines)

    def x(self, col):
        """Left edge of a column, in pixels."""
        return self.left + col * (self.cell + GAP)

    def cell_box(self, row, col):
        """(left, top, right, bottom) of a cell, in pixels from the top left."""
        x, y = self.x(col), self.row_y[row]
        return x, y, x + self.cell, y + self.cell

    def put(self, row, col, gray, smooth=False):
        """Lay a 2-D array of gray levels in [0, 1] (see spread, from_zero, centred)
        into a cell, framed in light grey."""
        self.frame(resample(gray, self.cell, smooth), self.x(col), self.row_y[row])

    def gray_at(self, row, col):
        """The gray levels laid into a cell."""
        x, y, right, bottom = self.cell_box(row, col)
        return self.pixels[y:bottom, x:right]

    def label(self, fig, row, col, text, color='black'):
        """Text right-aligned just left of a cell, at its middle height."""
        x, y = self.x(col) - LABEL_PAD, self.row_y[row] + self.cell / 2
        return self.text(fig, x, y, text, ha='right', va='center', fontsize=LABEL_SIZE,
                         color=color)


def digit_label(label, prediction):
    """'7 -> 7' and its colour: black when right, red when wrong."""
    return '%d %s %d' % (label, ARROW, prediction), ('black' if label == prediction else WRONG)


# --- conv1.png and conv2.png ---------------------------------------------------------

def layer_grid(num_filters, samples, rows=1, subtitle=''):
    """The grid of conv1.png (rows=1) or conv2.png (rows=2): a digit column and
    num_filters / rows columns; the filters, then ``rows`` rows per digit."""
    return Grid([rows] * (samples + 1), 1 + num_filters // rows, subtitle,
                group_gap=DIGIT_GAP if rows > 1 else GAP)


# conv2.png's caption line: 7x7 blocks mean little to a learner without it (issue 13).
POOLED2_CAPTION = ('The pooled map in filter k\'s place says where in the digit conv2 filter '
                   'k found its pattern; two 2\u00d72 poolings shrank 28\u00d728 to '
                   '7\u00d77, so one cell stands for a 4\u00d74 patch of the digit.')
SMOOTHED_CAPTION = ' Drawn smoothed (--upsample); the network sees the 7\u00d77 cells.'
# Sparse maps (fast's conv2) leave most cells white; without this, white reads as "no data".
SCALES_CAPTION = ('Filters: white = most negative weight, black = most positive, each on '
                  'its own scale. Maps: white = 0, black = the map\'s largest value; an '
                  'all-white map is 0 everywhere (the ReLU found nothing there).')


def plot_layer(filters, images, maps, labels, predictions, rows=1, title='', subtitle='',
               filter_label='filters', smooth_maps=False):
    """Write-up 001's figure: ``filters`` [h, w, n] across the top in ``rows`` rows;
    then each image [784] with its label and prediction, and its maps [s, s, n] below
    (bilinear when ``smooth_maps``)."""
    n = filters.shape[-1]
    per_row = n // rows
    grid = layer_grid(n, len(images), rows, subtitle)
    fig = grid.figure(title)
    for r in range(rows):
        for j in range(per_row):
            grid.put(r, 1 + j, spread(filters[:, :, r * per_row + j]))
        span = '%d\u2013%d' % (r * per_row, (r + 1) * per_row - 1)
        text = filter_label if rows == 1 else filter_label + '\n' + span if r == 0 else span
        grid.label(fig, r, 1, text, color=GREY)
    for d, image in enumerate(images):
        top = rows * (d + 1)
        grid.put(top, 0, image.reshape(28, 28))
        grid.label(fig, top, 0, *digit_label(labels[d], predictions[d]))
        for r in range(rows):
            for j in range(per_row):
                grid.put(top + r, 1 + j, from_zero(maps[d, :, :, r * per_row + j]),
                         smooth=smooth_maps)
    grid.draw(fig)
    return fig


# --- conv2_filter<K>.png ---------------------------------------------------------------

def conv2_filter_grid(inputs, subtitle=''):
    """The grid of conv2_filter<K>.png: the conv1 filters and the sub-filters, then one
    digit's pooled conv1 maps and what each sub-filter makes of them."""
    return Grid([2, 2], 1 + inputs, subtitle)


def plot_conv2_filter(k, conv1_filters, subfilters, image, label, prediction, pooled1,
                      contributions, h_conv2_k, title='', subtitle=''):
    """conv2 filter K taken apart: conv1_filters [5, 5, n], subfilters [5, 5, n] (the
    sub-filters of K), and for one digit its pooled conv1 maps [s, s, n], each
    sub-filter's response to its map [s, s, n] and the resulting conv2 map [s, s]."""
    n = subfilters.shape[-1]
    grid = conv2_filter_grid(n, subtitle)
    fig = grid.figure(title)
    # Shared, symmetric scales: mid-grey is 0, so the sub-filters (and the channels)
    # that matter to K stand out; per-cell scaling would make them all look alike.
    w = float(np.abs(subfilters).max())
    c = float(np.abs(contributions).max())
    for i in range(n):
        grid.put(0, 1 + i, spread(conv1_filters[:, :, i]))
        grid.put(1, 1 + i, centred(subfilters[:, :, i], w))
        grid.put(2, 1 + i, from_zero(pooled1[:, :, i]))
        grid.put(3, 1 + i, centred(contributions[:, :, i], c))
    grid.label(fig, 0, 1, 'conv1\nfilters', color=GREY)
    grid.label(fig, 1, 1, 'sub-filters\nof %d' % k, color=GREY)
    grid.put(2, 0, image.reshape(28, 28))
    grid.label(fig, 2, 0, *digit_label(label, prediction))
    grid.put(3, 0, from_zero(h_conv2_k))
    grid.label(fig, 3, 0, 'conv2\nmap %d' % k, color=GREY)
    grid.draw(fig)
    return fig


# --- misclassified.png -----------------------------------------------------------------

def misclassified_grid(count, subtitle=''):
    """The grid of misclassified.png for ``count`` digits (one empty row for none)."""
    rows = max(1, math.ceil(count / MISCLASSIFIED_COLS))
    return Grid([1] * rows, MISCLASSIFIED_COLS, subtitle, cell=DIGIT_CELL, group_gap=GAP,
                header_gap=GAP, left=MARGIN, row_top=CAPTION_H)


def plot_misclassified(images, labels, predictions, indices, total, title='', subtitle=''):
    """The digits images[indices], each captioned 'label -> prediction  #index'."""
    grid = misclassified_grid(len(indices), subtitle)
    fig = grid.figure(title)
    for n, i in enumerate(indices):
        row, col = divmod(n, MISCLASSIFIED_COLS)
        grid.put(row, col, images[i].reshape(28, 28))
        left, top, right, _ = grid.cell_box(row, col)
        # The index shares the caption line above the cell: drawn inside the cell, it
        # hid the ink of the digits (issue 13).
        below = top - CAPTION_PAD
        grid.text(fig, left, below, '%d %s %d' % (labels[i], ARROW, predictions[i]),
                  ha='left', va='bottom', fontsize=CAPTION_SIZE, color=WRONG)
        grid.text(fig, right, below, '#%d' % i, ha='right', va='bottom',
                  fontsize=INDEX_SIZE, color=GREY)
    if not len(indices):
        grid.text(fig, grid.width / 2, grid.row_y[0] + grid.cell / 2,
                  'none: the model gets all %d test digits right' % total,
                  ha='center', va='center', fontsize=NOTE_SIZE, color=GREY)
    grid.draw(fig)
    return fig


# --- classify.py --explain: one photo, its preparation, what the network saw ------------------

STEP_CELL = 110     # the photo and each step of its preparation
STEP_GAP = 12
MAP_CELL = 30       # one conv map
MAPS_PER_ROW = 32
BARS_H = 110        # the probabilities' bars
BAR_W = 36
SECTION_GAP = 22    # between the steps, the maps and the bars; room for a caption
FOUND = '#e0301e'   # the sheet found and the digits' boxes, drawn on the photo
EXPLAIN_CAPTION = ('Top: the photo (the sheet found outlined) and each step of its '
                   'preparation, the ink drawn as MNIST has it, light on black (the grey '
                   'steps as the photo looks). Then the conv1 maps h_conv1 (28\u00d728) and '
                   'conv2 maps h_conv2 (14\u00d714) of the prepared 28\u00d728 input: white = 0, '
                   'black = the map\'s largest value. Bottom: the ten probabilities.')
NUMBER_CAPTION = ('Top: the photo (the sheet found and each digit\'s box outlined) and each '
                  'step of its preparation. Below: each digit\'s 28\u00d728 input, light on '
                  'black as MNIST has it, and what the network read.')


def explain_layout(steps, subtitle, caption, width=0):
    """(width, the subtitle's lines, y of the steps' row) of an explain figure."""
    width = max(width, MARGIN + (1 + len(steps)) * (STEP_CELL + STEP_GAP))
    lines = wrap('%s\n%s' % (subtitle, caption), width - 2 * MARGIN)
    return width, lines, header_height(len(lines)) + CAPTION_H + CAPTION_PAD


def draw_steps(fig, canvas, photo, steps, y, sheet=None, boxes=()):
    """The photo in colour in its own axes (``sheet``'s corners, fractions of its size,
    outlined; ``boxes`` in its pixels), then each step, across at ``y``."""
    from matplotlib.patches import Polygon
    pw, ph = photo.size
    w, h = fitted_size(pw, ph, STEP_CELL)
    x0, y0 = MARGIN + (STEP_CELL - w) / 2, y + (STEP_CELL - h) / 2
    ax = fig.add_axes([x0 / canvas.width, 1 - (y0 + h) / canvas.height, w / canvas.width,
                       h / canvas.height], zorder=1)
    ax.imshow(np.asarray(photo), interpolation='antialiased', extent=(0, pw, ph, 0))
    outlines = [] if sheet is None else [np.asarray(sheet) * (pw, ph)]
    outlines += [[(l, t), (r, t), (r, b), (l, b)] for l, t, r, b in boxes]
    for corners in outlines:
        ax.add_patch(Polygon(corners, closed=True, fill=False, edgecolor=FOUND, linewidth=1.2))
    ax.set_xticks([])
    ax.set_yticks([])
    canvas.text(fig, MARGIN, y - CAPTION_PAD, 'photo', fontsize=CAPTION_SIZE, va='bottom')
    for i, (name, values) in enumerate(steps, start=1):
        x = MARGIN + i * (STEP_CELL + STEP_GAP)
        # gray_r draws 1 black: the grey steps as they look, the ink light on black.
        canvas.fit(1 - np.asarray(values), x, y, STEP_CELL)
        canvas.text(fig, x, y - CAPTION_PAD, name, fontsize=CAPTION_SIZE - 1, va='bottom')


def plot_explain(photo, steps, maps, probabilities, title='', subtitle='', sheet=None):
    """classify.py's figure of one image: ``photo`` (a PIL RGB image; ``sheet`` as
    handwriting.Prepared.sheet) and ``steps`` ((name, array) of handwriting.prepare)
    across the top; the conv maps ``maps`` ({'h_conv1': [s, s, n], ...}) in rows of
    MAPS_PER_ROW below, and the ten ``probabilities`` as bars."""
    left = LABEL_W
    width, lines, y_steps = explain_layout(
        steps, subtitle, EXPLAIN_CAPTION, left + MAPS_PER_ROW * (MAP_CELL + GAP) - GAP + MARGIN)
    y = y_steps + STEP_CELL + SECTION_GAP
    rows = []           # (name, first map, y) of each row of maps
    for name, values in maps.items():
        for first in range(0, values.shape[-1], MAPS_PER_ROW):
            rows.append((name, first, y))
            y += MAP_CELL + GAP
        y += SECTION_GAP - GAP
    y_bars = y + CAPTION_H
    canvas = Canvas(width, y_bars + BARS_H + CAPTION_H + MARGIN, lines)
    fig = canvas.figure(title)
    draw_steps(fig, canvas, photo, steps, y_steps, sheet)
    for name, first, y in rows:
        values = maps[name]
        last = min(first + MAPS_PER_ROW, values.shape[-1])
        for j in range(first, last):
            canvas.fit(from_zero(values[:, :, j]), left + (j - first) * (MAP_CELL + GAP), y,
                       MAP_CELL)
        canvas.text(fig, left - LABEL_PAD, y + MAP_CELL / 2, '%s\n%d\u2013%d' % (
            name, first, last - 1), ha='right', va='center', fontsize=LABEL_SIZE, color=GREY)
    canvas.draw(fig)
    # The bars: the answer black, the others grey, each with its percentage.
    ax = fig.add_axes([left / width, 1 - (y_bars + BARS_H) / canvas.height,
                       10 * BAR_W * 1.5 / width, BARS_H / canvas.height])
    best = int(np.argmax(probabilities))
    ax.bar(range(10), probabilities, width=0.66,
           color=['black' if d == best else '0.7' for d in range(10)])
    for d, p in enumerate(probabilities):
        ax.text(d, p + 0.03, '%.0f%%' % (100 * p) if p >= 0.005 else '', ha='center',
                va='bottom', fontsize=INDEX_SIZE + 0.5, color=GREY)
    ax.set_ylim(0, 1.15)    # room for the percentage over a bar of 100 %
    ax.set_xlim(-0.6, 9.6)
    ax.set_xticks(range(10))
    ax.set_yticks([])
    for side in ('top', 'right', 'left'):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis='x', labelsize=LABEL_SIZE, length=0)
    canvas.text(fig, left - LABEL_PAD, y_bars + BARS_H / 2, 'probability', ha='right',
                va='center', fontsize=LABEL_SIZE, color=GREY)
    return fig


def plot_number(photo, number, probabilities, title='', subtitle=''):
    """classify.py --number's figure: ``photo`` (a PIL RGB image) with the sheet and the
    digits' boxes of ``number`` (a handwriting.Number) outlined and its steps across the
    top; each digit's input below, captioned with what ``probabilities`` [k, 10] read."""
    k = len(number.inputs)
    width, lines, y_steps = explain_layout(number.steps, subtitle, NUMBER_CAPTION,
                                           2 * MARGIN + k * (DIGIT_CELL + STEP_GAP))
    y_digits = y_steps + STEP_CELL + SECTION_GAP + CAPTION_H
    canvas = Canvas(width, y_digits + DIGIT_CELL + MARGIN, lines)
    fig = canvas.figure(title)
    scale = photo.size[0] / number.size[0]
    draw_steps(fig, canvas, photo, number.steps, y_steps, number.sheet,
               [np.multiply(box, scale) for box in number.boxes])
    for i, (values, p) in enumerate(zip(number.inputs, probabilities)):
        x = MARGIN + i * (DIGIT_CELL + STEP_GAP)
        canvas.fit(1 - values.reshape(28, 28), x, y_digits, DIGIT_CELL)
        canvas.text(fig, x, y_digits - CAPTION_PAD, '%d (%.0f %%)' % (p.argmax(), 100 * p.max()),
                    fontsize=CAPTION_SIZE, va='bottom')
    canvas.draw(fig)
    return fig
