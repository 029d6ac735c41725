"""The visualiser's and classify.py's figures: cells placed in pixels, drawn with one
``imshow`` (001's axes per image took most of the visualiser's time). Each plot_* function
returns the Figure; its Grid (or Canvas) is ``fig.grid_layout``."""

import bisect
import functools
import math

import numpy as np
from PIL import Image

from deep_mnist.handwriting import fitted_size

# The geometry, in pixels at DPI.
DPI = 100
CELL, GAP = 40, 4               # a filter or map; between the cells of one row group
HEADER_GAP, DIGIT_GAP = 16, 10  # below the filter rows; between two digits' row pairs
LABEL_W, LABEL_PAD = 86, 5      # the row labels' margin ("7 -> 7"); from label to cell
DIGIT_CELL = 72                 # misclassified.png: one digit ...
CAPTION_H, CAPTION_PAD = 16, 3  # ... under a caption line, this far above it
MARGIN, BORDER_W = 10, 1        # around the whole figure; the frame just outside each cell
# The header: a bold title, then the subtitle's lines, wrapped to the figure's width.
SUBTITLE_TOP, SUBTITLE_SIZE = 29, 8.5   # pixels from the top; points
LINE_SPACING = 1.2              # matplotlib's default, in multiples of the font size
LABEL_SIZE, CAPTION_SIZE, INDEX_SIZE, NOTE_SIZE = 9, 9, 6.5, 10

CMAP, BORDER = 'gray_r', 0.3    # 001's: 0 white, 1 black; the frames' light grey
WRONG, GREY = '#c0001a', '0.35'     # labels of misclassified digits; notes
MISCLASSIFIED_COLS, ARROW = 10, '\u2192'


@functools.lru_cache(maxsize=None)
def _text_width(text, size):
    """Width in pixels of one line of ``text`` in matplotlib's default font."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties
    return RendererAgg(1, 1, DPI).get_text_width_height_descent(
        text, FontProperties(size=size), ismath=False)[0]


def _pieces(word, width, size):
    """``word`` in pieces no wider than ``width`` pixels (a long path, say)."""
    pieces = []
    while len(word) > 1 and _text_width(word, size) > width:
        n = max(1, bisect.bisect(range(1, len(word)), width,
                                 key=lambda n: _text_width(word[:n], size)))
        pieces.append(word[:n])
        word = word[n:]
    return pieces + [word]


def wrap(text, width, size=SUBTITLE_SIZE):
    """``text``'s lines (its breaks kept), broken so that none is wider than ``width`` pixels."""
    space, lines = _text_width(' ', size), []
    for paragraph in text.split('\n'):
        line, used = '', 0.0
        for piece in (p for word in paragraph.split(' ') for p in _pieces(word, width, size)):
            w = _text_width(piece, size)
            if line and used + space + w > width:
                lines.append(line)
                line, used = '', 0.0
            line, used = (line + ' ' + piece, used + space + w) if line else (piece, w)
        lines.append(line)
    return lines


def header_height(subtitle_lines):
    """Pixels from the top of a figure to below a header of that many subtitle lines."""
    line_h = SUBTITLE_SIZE * LINE_SPACING * DPI / 72
    return SUBTITLE_TOP + math.ceil(subtitle_lines * line_h) + 8     # 8: below the subtitle


def new_figure(width, height):
    """A pyplot figure of exactly width x height pixels at DPI."""
    import matplotlib.pyplot as plt
    # +0.5: matplotlib truncates width * dpi to whole pixels.
    return plt.figure(figsize=((width + 0.5) / DPI, (height + 0.5) / DPI), dpi=DPI)


def draw_header(fig, title, lines):
    """The bold title and the (already wrapped) subtitle lines, at the top left."""
    width, height = fig.bbox.width, fig.bbox.height
    fig.text(MARGIN / width, 1 - 8 / height, title, fontsize=11,
             weight='bold', va='top', parse_math=False)
    fig.text(MARGIN / width, 1 - SUBTITLE_TOP / height, '\n'.join(lines),
             fontsize=SUBTITLE_SIZE, linespacing=LINE_SPACING, color=GREY, va='top',
             parse_math=False)


def spread(values):
    """On its own scale, as imshow draws it: minimum white, maximum black (constant: white)."""
    values = np.asarray(values, dtype=float)
    return from_zero(values - values.min())


def from_zero(values):
    """A ReLU map (>= 0) on its own scale from 0: white exactly 0, black its maximum."""
    values = np.asarray(values, dtype=float)
    high = values.max()
    return np.clip(values / high, 0, 1) if high > 0 else np.zeros_like(values)


def centred(values, limit):
    """Signed values on a shared scale: -limit white, 0 mid grey, +limit black."""
    return np.clip((np.asarray(values, dtype=float) / (limit or 1.0) + 1) / 2, 0, 1)


def resample(values, size, smooth=False):
    """A 2-D array resized to ``size`` (w, h): bilinear if ``smooth``, else blocks or area means."""
    values = np.asarray(values, np.float32)
    method = (Image.BILINEAR if smooth else Image.NEAREST if size[0] >= values.shape[1]
              else Image.BOX)
    return np.asarray(Image.fromarray(values, 'F').resize(size, method), float)


class Canvas:
    """Cells of gray levels and text placed in pixels, drawn as one image under the header."""

    def __init__(self, width, height, subtitle_lines):
        self.width, self.height, self.subtitle = width, height, subtitle_lines

    def figure(self, title):
        """The figure with its header; the sheet of cells emptied."""
        fig = new_figure(self.width, self.height)
        draw_header(fig, title, self.subtitle)
        fig.grid_layout = self
        self.pixels = np.full((self.height, self.width), np.nan)   # NaN: the background
        return fig

    def frame(self, values, x, y):
        """Lay gray levels in [0, 1] with their top left at (x, y), framed."""
        h, w = values.shape
        self.pixels[y - BORDER_W:y + h + BORDER_W, x - BORDER_W:x + w + BORDER_W] = BORDER
        self.pixels[y:y + h, x:x + w] = values

    def fit(self, values, x, y, cell):
        """A 2-D array, its aspect kept, centred in the cell x cell square at (x, y), framed."""
        values = resample(values, fitted_size(values.shape[1], values.shape[0], cell))
        self.frame(values, x + (cell - values.shape[1]) // 2, y + (cell - values.shape[0]) // 2)

    def draw(self, fig):
        """All cells as one image in an axes (figimage: half size on a high-resolution screen)."""
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
    """Row groups of cells (``groups``: rows each); gaps ``header_gap``, then ``group_gap``."""

    def __init__(self, groups, cols, subtitle='', cell=CELL, group_gap=GAP,
                 header_gap=HEADER_GAP, left=LABEL_W, row_top=0):
        self.cell, self.left, self.cols = cell, left, cols
        width = left + cols * cell + (cols - 1) * GAP + MARGIN
        lines = wrap(subtitle, width - 2 * MARGIN)
        self.row_y = []
        y = header_height(len(lines))
        for g, rows in enumerate(groups):
            y += (header_gap if g == 1 else group_gap) if g else 0
            for r in range(rows):
                y += row_top + (GAP if r else 0)
                self.row_y.append(y)
                y += cell
        super().__init__(width, y + MARGIN, lines)

    def x(self, col):
        return self.left + col * (self.cell + GAP)

    def put(self, row, col, gray, smooth=False):
        """Lay gray levels (spread, from_zero, centred) into a cell, framed."""
        self.frame(resample(gray, (self.cell, self.cell), smooth), self.x(col), self.row_y[row])

    def label(self, fig, row, col, text, color='black'):
        """Text right-aligned just left of a cell, at its middle height."""
        x, y = self.x(col) - LABEL_PAD, self.row_y[row] + self.cell / 2
        return self.text(fig, x, y, text, ha='right', va='center', fontsize=LABEL_SIZE,
                         color=color)

    def digit(self, fig, row, image, label, prediction):
        """A digit [784] in column 0, labelled '7 -> 7': black when right, red when wrong."""
        self.put(row, 0, image.reshape(28, 28))
        self.label(fig, row, 0, '%d %s %d' % (label, ARROW, prediction),
                   'black' if label == prediction else WRONG)


def layer_grid(num_filters, samples, rows=1, subtitle=''):
    """conv1.png's grid (rows=1) or conv2.png's (2): the filters, then ``rows`` rows a digit."""
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
    """Write-up 001's: ``filters`` [h, w, n] in ``rows`` rows; each image [784], its maps below."""
    n = filters.shape[-1]
    per_row = n // rows
    grid = layer_grid(n, len(images), rows, subtitle)
    fig = grid.figure(title)
    for i in range(n):
        r, col = divmod(i, per_row)
        grid.put(r, 1 + col, spread(filters[:, :, i]))
        for d in range(len(images)):     # digit d's rows start at rows * (d + 1)
            grid.put(rows * (d + 1) + r, 1 + col, from_zero(maps[d, :, :, i]), smooth_maps)
    for r in range(rows):
        span = '%d\u2013%d' % (r * per_row, (r + 1) * per_row - 1)
        text = filter_label if rows == 1 else filter_label + '\n' + span if r == 0 else span
        grid.label(fig, r, 1, text, color=GREY)
    for d, image in enumerate(images):
        grid.digit(fig, rows * (d + 1), image, labels[d], predictions[d])
    grid.draw(fig)
    return fig


def plot_conv2_filter(k, conv1_filters, subfilters, image, label, prediction, pooled1,
                      contributions, h_conv2_k, title='', subtitle=''):
    """conv2 filter K taken apart: rows of conv1 filters and K's sub-filters [5, 5, n]; a
    digit, its pooled1 maps and each sub-filter's contributions [s, s, n]; the conv2 map."""
    n = subfilters.shape[-1]
    grid = Grid([2, 2], 1 + n, subtitle)
    fig = grid.figure(title)
    # Shared, symmetric scales (grey 0) make the sub-filters that matter to K stand out;
    # per-cell scaling would make them all look alike.
    w, c = (float(np.abs(values).max()) for values in (subfilters, contributions))
    for i in range(n):
        grid.put(0, 1 + i, spread(conv1_filters[:, :, i]))
        grid.put(1, 1 + i, centred(subfilters[:, :, i], w))
        grid.put(2, 1 + i, from_zero(pooled1[:, :, i]))
        grid.put(3, 1 + i, centred(contributions[:, :, i], c))
    grid.label(fig, 0, 1, 'conv1\nfilters', color=GREY)
    grid.label(fig, 1, 1, 'sub-filters\nof %d' % k, color=GREY)
    grid.digit(fig, 2, image, label, prediction)
    grid.put(3, 0, from_zero(h_conv2_k))
    grid.label(fig, 3, 0, 'conv2\nmap %d' % k, color=GREY)
    grid.draw(fig)
    return fig


def plot_misclassified(images, labels, predictions, indices, total, title='', subtitle=''):
    """The digits images[indices], each captioned 'label -> prediction  #index'."""
    rows = max(1, math.ceil(len(indices) / MISCLASSIFIED_COLS))     # an empty row for none
    grid = Grid([1] * rows, MISCLASSIFIED_COLS, subtitle, cell=DIGIT_CELL, group_gap=GAP,
                header_gap=GAP, left=MARGIN, row_top=CAPTION_H)
    fig = grid.figure(title)
    for n, i in enumerate(indices):
        row, col = divmod(n, MISCLASSIFIED_COLS)
        grid.put(row, col, images[i].reshape(28, 28))
        left, below = grid.x(col), grid.row_y[row] - CAPTION_PAD
        # The index shares the caption line: inside the cell it hid the ink (issue 13).
        grid.text(fig, left, below, '%d %s %d' % (labels[i], ARROW, predictions[i]),
                  ha='left', va='bottom', fontsize=CAPTION_SIZE, color=WRONG)
        grid.text(fig, left + grid.cell, below, '#%d' % i, ha='right', va='bottom',
                  fontsize=INDEX_SIZE, color=GREY)
    if not len(indices):
        grid.text(fig, grid.width / 2, grid.row_y[0] + grid.cell / 2,
                  'none: the model gets all %d test digits right' % total,
                  ha='center', va='center', fontsize=NOTE_SIZE, color=GREY)
    grid.draw(fig)
    return fig
