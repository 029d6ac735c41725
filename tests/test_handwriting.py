"""deep_mnist/handwriting.py: each step of the MNIST-style preparation on small arrays
and files made here, and load_image's refusals (no TensorFlow, no network)."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from deep_mnist import handwriting as hw

STEP_NAMES = ['grey', 'sheet', 'ink bright on dark', 'paper flattened', 'ruled lines removed',
              'cropped to the ink', 'fitted into 20x20', 'centred in 28x28']


def ring(shape=(90, 70), box=(20, 15, 70, 50), stroke=7, ink=0.1, paper=0.9):
    """Grey levels: a rectangular ring (a '0') of dark ink on light paper."""
    grey = np.full(shape, paper, np.float32)
    top, left, bottom, right = box
    grey[top:bottom, left:right] = ink
    grey[top + stroke:bottom - stroke, left + stroke:right - stroke] = paper
    return grey


def seven(shape=(100, 100), at=(10, 20), size=60, stroke=8, ink=0.05, paper=0.95):
    """Grey levels: a '7', a bar across the top and a stem down its right end; its
    centre of mass lies up and to the right of its box's centre."""
    grey = np.full(shape, paper, np.float32)
    y, x = at
    grey[y:y + stroke, x:x + size] = ink
    grey[y:y + size, x + size - stroke:x + size] = ink
    return grey


def frame(prepared):
    return prepared.input.reshape(28, 28)


def bounding_box(values, level=0.1):
    rows = np.flatnonzero(values.max(axis=1) > level)
    cols = np.flatnonzero(values.max(axis=0) > level)
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


# --- the result -----------------------------------------------------------------------

def test_prepare_gives_mnist_input_and_every_step():
    prepared = hw.prepare(ring())
    assert [name for name, _ in prepared.steps] == STEP_NAMES
    assert prepared.input.dtype == np.float32 and prepared.input.shape == (784,)
    assert prepared.input.min() >= 0 and prepared.input.max() == pytest.approx(1)
    # MNIST's convention: the frame's border is paper (0), the ink is ~1.
    assert frame(prepared)[0].max() == 0 and frame(prepared)[:, 0].max() == 0
    for name, values in prepared.steps:
        assert values.ndim == 2, name
    assert dict(prepared.steps)['centred in 28x28'].shape == (28, 28)


# --- polarity -------------------------------------------------------------------------

def test_dark_ink_and_light_ink_come_out_alike():
    dark = hw.prepare(ring(ink=0.1, paper=0.9))
    light = hw.prepare(ring(ink=0.9, paper=0.1))
    assert hw.ink_bright(ring(ink=0.1, paper=0.9))[0, 0] < 0.2
    assert hw.ink_bright(ring(ink=0.9, paper=0.1))[0, 0] < 0.2
    np.testing.assert_allclose(dark.input, light.input, atol=0.02)
    # The ink is bright in both: the ring's middle row has ink at its sides, paper inside.
    middle = frame(dark)[14]
    assert middle.max() > 0.9 and middle[13:15].max() < 0.05


def test_ink_bright_inverts_dark_ink_only():
    np.testing.assert_allclose(hw.ink_bright(ring(ink=0.1, paper=0.9))[40, 17], 0.9)
    np.testing.assert_allclose(hw.ink_bright(ring(ink=0.9, paper=0.1))[40, 17], 0.9)


def test_a_uint8_array_reads_as_grey_levels():
    as_bytes = (ring() * 255).round().astype(np.uint8)
    np.testing.assert_allclose(hw.prepare(as_bytes).input, hw.prepare(ring()).input, atol=0.02)


# --- uneven paper -----------------------------------------------------------------------

def test_uneven_paper_is_flattened():
    # A photo lit from one side: paper (reflecting 0.95) and ink (0.15) under light
    # that falls from 1 at the left to 0.45 at the right.
    h, w = 80, 160
    light = np.linspace(1, 0.45, w)[None, :].repeat(h, axis=0)
    reflects = np.full((h, w), 0.95)
    reflects[30:40, 10:150] = 0.15     # a long stroke across the shade
    grey = light * reflects
    flat = hw.flatten_paper(hw.ink_bright(grey.astype(np.float32)))
    assert flat[:20].max() < 0.05 and flat[50:].max() < 0.05     # all paper, both ends
    assert flat[31:39, 15:30].min() > 0.8 and flat[31:39, 130:145].min() > 0.8


def test_otsu_splits_two_levels():
    values = np.r_[np.full(900, 0.1), np.full(100, 0.7)]
    assert 0.1 <= hw.otsu(values) < 0.7


# --- ruled lines ------------------------------------------------------------------------

def lined(grey, rows, level=0.3):
    """grey with ruled lines (3 pixels thick, a lighter ink) across the whole width."""
    grey = grey.copy()
    for r in rows:
        grey[r:r + 3] = np.minimum(grey[r:r + 3], level)
    return grey


def test_a_ruled_line_is_removed_and_the_digit_kept():
    plain = ring(shape=(100, 120), box=(20, 40, 80, 80), stroke=8)
    with_line = lined(plain, [50])
    soft = hw.flatten_paper(hw.ink_bright(with_line))
    assert soft[51, :30].min() > 0.5                    # the line is ink before the step
    cleaned = hw.remove_ruled_lines(soft)
    assert cleaned[48:55, :35].max() < 0.05 and cleaned[48:55, 85:].max() < 0.05
    assert cleaned[50:53, 41:47].min() > 0.9            # the ring's sides, where it crosses
    assert cleaned[50:53, 73:79].min() > 0.9
    assert_prepared_alike(with_line, plain)


def assert_prepared_alike(grey, expected):
    """grey prepares into the digit that expected does (compared before the centring: a
    digit whose centre of mass lies on a half pixel may go either way by a pixel)."""
    np.testing.assert_allclose(dict(hw.prepare(grey).steps)['fitted into 20x20'],
                               dict(hw.prepare(expected).steps)['fitted into 20x20'], atol=0.05)


def test_a_vertical_ruled_line_is_removed():
    plain = ring(shape=(120, 100), box=(40, 20, 80, 80), stroke=8)
    with_line = lined(plain.T, [15]).T      # a margin line down the page
    assert_prepared_alike(with_line, plain)


def test_a_seven_bar_across_the_photo_is_not_a_ruled_line():
    # The bar covers 90 % of the width, like a ruled line, but is as thick as the stem.
    grey = seven(shape=(100, 100), at=(10, 5), size=90, stroke=8)
    soft = hw.flatten_paper(hw.ink_bright(grey))
    np.testing.assert_array_equal(hw.remove_ruled_lines(soft), soft)


def test_a_tall_one_alone_is_not_a_ruled_line():
    grey = np.full((100, 80), 0.9, np.float32)
    grey[5:95, 36:44] = 0.1        # a '1' from top to bottom, and nothing else
    soft = hw.flatten_paper(hw.ink_bright(grey))
    np.testing.assert_array_equal(hw.remove_ruled_lines(soft), soft)
    assert bounding_box(frame(hw.prepare(grey)))[1] - bounding_box(frame(hw.prepare(grey)))[0] == 20


# --- crop, specks, stroke width -----------------------------------------------------------

def test_crop_is_the_ink_box_without_specks():
    grey = ring(shape=(120, 120), box=(30, 40, 90, 80), stroke=9)
    grey[5:7, 5:7] = 0.1              # a speck far from the digit
    grey[110:112, 110:113] = 0.1
    soft = hw.flatten_paper(hw.ink_bright(grey))
    crop = hw.crop_to_ink(soft)
    # The ink's box, and its soft edge (the smoothing spreads it by a pixel).
    top, bottom, left, right = bounding_box(crop, 0.5)
    assert (bottom - top, right - left) == (60, 40)
    assert crop.shape <= (62, 42)


def test_parts_of_a_digit_are_not_specks():
    grey = np.full((100, 100), 0.9, np.float32)
    grey[20:80, 45:53] = 0.1          # a stem
    grey[10:16, 30:60] = 0.1          # a bar apart from it (a 5's top, say): a third of its size
    crop = hw.crop_to_ink(hw.flatten_paper(hw.ink_bright(grey)))
    top, bottom, left, right = bounding_box(crop, 0.5)
    assert (bottom - top, right - left) == (70, 30)


def test_components_join_diagonal_neighbours():
    mask = np.array([[1, 0, 0, 1],
                     [0, 1, 0, 1],
                     [0, 0, 0, 0],
                     [1, 1, 0, 1]], bool)
    labels, sizes = hw.components(mask)
    assert labels[0, 0] == labels[1, 1] != labels[0, 3]
    assert labels[3, 0] == labels[3, 1] and labels[3, 0] not in (labels[0, 0], labels[0, 3])
    assert sorted(sizes[1:]) == [1, 2, 2, 2]
    assert (labels > 0).sum() == mask.sum() and sizes[0] == 0


def test_stroke_width_of_a_bar():
    mask = np.zeros((100, 100), bool)
    mask[10:90, 40:46] = True
    # An axis-aligned bar reads 4/pi wider than it is; curves read true on average.
    assert hw.stroke_width(mask) == pytest.approx(6 * 4 / np.pi, rel=0.1)
    assert hw.stroke_width(np.zeros((5, 5), bool)) is None


def test_thin_strokes_are_thickened_to_mnist_width():
    thin = ring(shape=(240, 200), box=(20, 40, 220, 160), stroke=2)   # a fine pen, 200 px tall
    width = hw.stroke_width(frame(hw.prepare(thin))[4:24, 4:24] > 0.5)
    assert width >= hw.THINNEST_STROKE


# --- fit and centre --------------------------------------------------------------------------

@pytest.mark.parametrize('box, size', [((10, 30, 70, 50), (20, 7)), ((30, 10, 50, 70), (7, 20))])
def test_aspect_is_kept(box, size):
    grey = ring(shape=(80, 80), box=box, stroke=6)
    prepared = hw.prepare(grey)
    assert dict(prepared.steps)['fitted into 20x20'].shape == size
    top, bottom, left, right = bounding_box(frame(prepared))
    assert (bottom - top, right - left) == pytest.approx(size, abs=1)


@pytest.mark.parametrize('grey', [ring(), seven(), seven(shape=(150, 90), at=(60, 5), size=70,
                                                        stroke=12),
                                  ring(shape=(60, 200), box=(10, 150, 50, 190), stroke=4)],
                         ids=['ring', 'seven', 'seven low left', 'small ring far right'])
def test_centre_of_mass_within_half_a_pixel_of_mnist_centre(grey):
    cy, cx = ndimage.center_of_mass(frame(hw.prepare(grey)))
    assert abs(cy - hw.CENTRE) <= 0.5 + 1e-6 and abs(cx - hw.CENTRE) <= 0.5 + 1e-6


def test_a_digit_too_lopsided_to_centre_stays_whole():
    # A long bar over a thin stem: centred by its mass, the stem's foot would leave the frame.
    fitted = np.zeros((20, 20), np.float32)
    fitted[:3] = 1
    fitted[3:, 18] = 0.5
    placed = hw.centre_in_frame(fitted)
    assert placed.sum() == pytest.approx(fitted.sum())
    assert placed[-1].max() > 0 and ndimage.center_of_mass(placed)[0] < hw.CENTRE - 0.5


def test_centre_in_frame_places_a_point_at_the_centre():
    dot = np.zeros((20, 20), np.float32)
    dot[8, 12] = 1
    placed = hw.centre_in_frame(dot)
    assert placed[14, 14] == 1 and placed.sum() == 1


def test_mnist_digits_have_their_centre_of_mass_at_the_centre(data_dir):
    import mnist_data
    images = mnist_data.read_data_sets(data_dir).test.images[:2000].reshape(-1, 28, 28)
    centres = np.array([ndimage.center_of_mass(image) for image in images])
    np.testing.assert_allclose(centres.mean(axis=0), [hw.CENTRE, hw.CENTRE], atol=0.05)
    assert np.abs(centres - hw.CENTRE).max() < 0.75


def test_an_mnist_digit_comes_through_as_itself(data_dir):
    import mnist_data
    image = mnist_data.read_data_sets(data_dir).test.images[0].reshape(28, 28)
    photo = Image.fromarray(((1 - image) * 255).astype(np.uint8)).resize((140, 140), Image.BICUBIC)
    prepared = frame(hw.prepare(photo))
    assert np.corrcoef(prepared.ravel(), image.ravel())[0, 1] > 0.85


# --- refusals ------------------------------------------------------------------------------------

@pytest.mark.parametrize('grey', [np.full((50, 50), 0.8, np.float32),
                                  np.linspace(0.4, 0.95, 60 * 80, dtype=np.float32).reshape(60, 80),
                                  np.clip(0.8 + np.random.default_rng(0).normal(0, 0.02, (60, 60)),
                                          0, 1).astype(np.float32)],
                         ids=['even', 'shaded', 'noisy'])
def test_blank_paper_is_refused(grey):
    with pytest.raises(hw.HandwritingError, match=r'no ink found \(blank paper\?\)'):
        hw.prepare(grey)


def png_header(width, height):
    """The first bytes of a PNG claiming width x height: a signature, its IHDR and a
    tiny IDAT, nothing that could be decoded into so many pixels."""
    def chunk(kind, data):
        return (struct.pack('>I', len(data)) + kind + data
                + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff))
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 0, 0, 0, 0))
            + chunk(b'IDAT', zlib.compress(b'\0' * 16)) + chunk(b'IEND', b''))


def test_too_large_is_refused_by_its_header():
    with pytest.raises(hw.HandwritingError, match=r'too large to decode safely \(10000 x 8000\)'):
        hw.load_image(io.BytesIO(png_header(10000, 8000)))
    # Past Pillow's own bomb limit too (1e10 pixels): refused the same way, not decoded.
    with pytest.raises(hw.HandwritingError, match='too large to decode safely'):
        hw.load_image(io.BytesIO(png_header(100000, 100000)))


def test_not_an_image_is_refused(tmp_path):
    path = tmp_path / 'notes.png'
    path.write_text('not a picture at all')
    with pytest.raises(hw.HandwritingError, match='^not an image$'):
        hw.load_image(str(path))


def test_a_truncated_image_is_refused():
    out = io.BytesIO()
    Image.fromarray((ring() * 255).astype(np.uint8)).save(out, 'PNG')
    with pytest.raises(hw.HandwritingError, match='cannot decode'):
        hw.load_image(io.BytesIO(out.getvalue()[:len(out.getvalue()) // 2]))


# --- what load_image does to the file ----------------------------------------------------------

def encoded(image, fmt='PNG', **options):
    out = io.BytesIO()
    image.save(out, fmt, **options)
    out.seek(0)
    return out


@pytest.mark.parametrize('fmt', ['PNG', 'JPEG'])
def test_exif_orientation_is_applied(fmt):
    stored = np.full((40, 100), 255, np.uint8)
    stored[15:25, 10:90] = 0          # a horizontal bar as stored...
    exif = Image.Exif()
    exif[0x0112] = 6                  # ...that the camera says to turn 90 degrees clockwise
    image = hw.load_image(encoded(Image.fromarray(stored), fmt, exif=exif.tobytes()))
    assert image.size == (40, 100)    # upright: the bar stands
    values = np.asarray(image)
    assert values[50, 20] < 60 and values[50, 5] > 200 and values[2, 20] > 200


def test_transparency_is_flattened_onto_white():
    # A drawing on a transparent sheet: black ink, and "black" fully transparent paper.
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[10:40, 20:28, 3] = 255
    image = hw.load_image(encoded(Image.fromarray(rgba, 'RGBA')))
    values = np.asarray(image)
    assert image.mode == 'L' and values[0, 0] == 255 and values[25, 24] == 0
    assert frame(hw.prepare(image)).max() == pytest.approx(1)


def test_palette_transparency_is_flattened_too():
    rgba = np.zeros((50, 50, 4), np.uint8)
    rgba[10:40, 20:28] = (0, 0, 0, 255)
    image = hw.load_image(encoded(Image.fromarray(rgba, 'RGBA').convert('P'), 'GIF',
                                  transparency=0))
    values = np.asarray(image)
    assert values[25, 24] < 20 and values[0, 0] == 255


def test_sixteen_bit_grey_is_scaled_not_clipped():
    values = (ring() * 65535).astype(np.uint16)
    image = hw.load_image(encoded(Image.fromarray(values)))
    np.testing.assert_allclose(np.asarray(image)[0, 0], 0.9 * 255, atol=1)


def test_big_photos_work_at_work_side():
    grey = hw.grey_levels(Image.fromarray((ring((1200, 900), (300, 200, 900, 700), 80) * 255)
                                          .astype(np.uint8)))
    assert max(grey.shape) == hw.WORK_SIDE and grey.shape == (512, 384)


# --- the sheet ---------------------------------------------------------------------------------

SHEET = ((40, 30), (170, 36), (166, 140), (34, 134))     # clockwise from the top left


def on_a_table(table='grey', corners=SHEET, shape=(170, 210)):
    """Grey levels: a sheet (0.9) with a '0' on it, its corners ``corners``, on a table."""
    from PIL import ImageDraw
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]]
    top = {'wood': 0.45 + 0.12 * np.sin(yy / 2.5 + xx / 20), 'grey': np.full(shape, 0.45),
           'dark': np.full(shape, 0.08), 'patterned': np.where((yy // 9 + xx // 9) % 2, 0.2, 0.5),
           "another sheet's edge": np.where(xx < 12, 0.92, 0.3)}[table]
    sheet, ink = Image.new('L', shape[::-1]), Image.new('L', shape[::-1])
    ImageDraw.Draw(sheet).polygon([tuple(c) for c in corners], fill=255)
    cx, cy = np.mean(corners, axis=0)
    ImageDraw.Draw(ink).ellipse((cx - 16, cy - 24, cx + 16, cy + 24), outline=255, width=6)
    on, dark = np.asarray(sheet) / 255, np.asarray(ink) / 255
    return (top * (1 - on) + on * (0.9 - 0.8 * dark)).astype(np.float32)


@pytest.mark.parametrize('table', ['wood', 'grey', 'dark', 'patterned', "another sheet's edge"])
def test_the_sheet_is_found_on_each_table(table):
    np.testing.assert_allclose(hw.find_sheet(on_a_table(table)), SHEET, atol=2.5)
    prepared = hw.prepare(on_a_table(table))
    # Set straight and cut inside its edges: no table left, and the '0' read as on paper.
    sheet = dict(prepared.steps)['sheet']
    assert np.mean((sheet > 0.15) & (sheet < 0.8)) < 0.03      # paper or ink, no table
    np.testing.assert_allclose(prepared.sheet, np.array(SHEET) / (210, 170), atol=0.015)
    all_paper = on_a_table(table, ((-1, -1), (211, -1), (211, 171), (-1, 171)))
    assert np.abs(prepared.input - hw.prepare(all_paper).input).mean() < 0.08


@pytest.mark.parametrize('corners', [
    ((48, 20), (178, 34), (164, 152), (34, 138)),       # turned by 6 degrees
    ((44, 28), (160, 40), (172, 144), (30, 128))],      # seen at an angle (perspective)
    ids=['turned', 'perspective'])
def test_a_sheet_at_an_angle_is_set_straight(corners):
    grey = on_a_table('wood', corners)
    np.testing.assert_allclose(hw.find_sheet(grey), corners, atol=2.5)
    sheet = dict(hw.prepare(grey).steps)['sheet']
    # Straight: the paper reaches every side of the crop, the table nowhere.
    assert min(sheet[0].min(), sheet[-1].min(), sheet[:, 0].min(), sheet[:, -1].min()) > 0.8


def test_a_photo_all_of_paper_is_unchanged():
    grey = ring()
    assert hw.find_sheet(grey) is None
    prepared = hw.prepare(grey)
    assert prepared.sheet is None
    np.testing.assert_array_equal(dict(prepared.steps)['sheet'], dict(prepared.steps)['grey'])


def test_a_sheet_past_the_frames_edge_is_found_to_the_edge():
    corners = ((-30, 20), (150, 24), (148, 150), (-30, 146))
    found = hw.find_sheet(on_a_table('dark', corners))
    assert found is not None and found[0, 0] < 1 and found[3, 0] < 1   # the left: the frame's
    np.testing.assert_allclose(found[1:3], np.array(corners)[1:3], atol=2.5)
    assert hw.prepare(on_a_table('dark', corners)).input.max() > 0.9


@pytest.mark.parametrize('grey, reason', [
    (np.random.default_rng(0).uniform(0, 0.12, (120, 160)), 'too dark to find a sheet of paper'),
    (on_a_table('wood', ((0, 0), (0, 0), (0, 0), (0, 0))), r'no sheet of paper found \(the table alone\?\)')],
    ids=['a dark room', 'the table alone'])
def test_no_paper_to_find_is_refused(grey, reason):
    with pytest.raises(hw.HandwritingError, match='^%s$' % reason):
        hw.prepare(grey.astype(np.float32))


# --- a number ----------------------------------------------------------------------------------

def rings_in_a_row(count, shape=(100, 70), gap=25):
    """Grey levels: ``count`` rings side by side, ``gap`` pixels apart."""
    one = ring(shape)[:, 10:55]
    return np.hstack([np.hstack([one, np.full((shape[0], gap), 0.9, np.float32)])] * count)


def test_a_number_is_its_digits_left_to_right():
    grey = rings_in_a_row(3)
    number = hw.prepare_number(grey)
    assert number.inputs.shape == (3, 784) and number.inputs.dtype == np.float32
    assert [b[0] for b in number.boxes] == sorted(b[0] for b in number.boxes)
    assert number.boxes[0] == (5, 20, 40, 70) and number.size == (grey.shape[1], grey.shape[0])
    np.testing.assert_allclose(number.inputs, number.inputs[[0, 0, 0]], atol=0.05)
    # Each as the ring alone is (perhaps a pixel aside: a symmetric ring's centre is a tie).
    np.testing.assert_allclose(np.sort(number.inputs[0]), np.sort(hw.prepare(ring()).input),
                               atol=0.05)


def test_a_large_jpegs_boxes_are_in_its_own_pixels(tmp_path):
    # A JPEG is decoded at a fraction of its size (draft); its boxes are still the photo's.
    grey = rings_in_a_row(3)
    small = hw.prepare_number(grey).boxes
    path = tmp_path / 'big.jpg'
    big = Image.fromarray(np.uint8(grey * 255)).resize((grey.shape[1] * 24, grey.shape[0] * 24))
    big.save(path, quality=95)
    image = hw.load_image(str(path))
    assert image.size[0] < big.size[0]                  # decoded smaller
    number = hw.prepare_number(image)
    assert number.size == big.size
    np.testing.assert_allclose(np.array(number.boxes) / 24, small, atol=4)   # 1/2 if not


def test_a_detached_bar_and_a_broken_stroke_stay_in_their_digit():
    grey = rings_in_a_row(2)
    grey[8:14, 5:40] = 0.1              # a 5's bar above the first ring, apart from it
    grey[34:36, 72:110] = 0.9           # the second ring broken across
    number = hw.prepare_number(grey)
    assert len(number.inputs) == 2 and number.boxes[0][1] == 8


def test_ink_that_forms_no_row_and_too_many_digits_are_refused():
    stacked = np.vstack([rings_in_a_row(1), rings_in_a_row(1)])
    with pytest.raises(hw.HandwritingError, match='^the ink forms no row'):
        hw.prepare_number(stacked)
    with pytest.raises(hw.HandwritingError, match=r'^more than 12 digits \(13\)$'):
        hw.prepare_number(rings_in_a_row(13, gap=12))
    with pytest.raises(hw.HandwritingError, match=r'^no ink found'):
        hw.prepare_number(np.full((50, 80), 0.9, np.float32))
