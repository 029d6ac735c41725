"""The pictures of the README and docs/: every one a page shows is there, is a PNG and is
small, every PNG in docs/images/ is shown somewhere, and the command that makes them
again is documented (issue 34)."""

import re

from PIL import Image

from conftest import REPO_ROOT

IMAGES = REPO_ROOT / 'docs' / 'images'
MAX_BYTES = 250_000            # each picture
MAX_TOTAL = 1_000_000          # all of docs/images/
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'
# ![alt text](target): the alt text may run over lines.
IMAGE_LINK = re.compile(r'!\[[^\]]*\]\(([^)\s]+)\)')
MAKER = 'docs/make_images.py'


def pages():
    return [REPO_ROOT / 'README.md'] + sorted((REPO_ROOT / 'docs').glob('*.md'))


def shown():
    """{resolved path: [page:target, ...]} of every local picture a page shows."""
    found = {}
    for page in pages():
        for target in IMAGE_LINK.findall(page.read_text()):
            if not re.match(r'^[a-z][a-z0-9+.-]*:', target):       # not http: or data:
                where = '%s:%s' % (page.relative_to(REPO_ROOT), target)
                found.setdefault((page.parent / target).resolve(), []).append(where)
    return found


def test_every_picture_shown_is_a_small_png():
    found = shown()
    assert found, 'no page shows a picture'
    problems = []
    for path, where in sorted(found.items()):
        if not path.is_file():
            problems.append('%s: no such file' % where[0])
            continue
        if path.read_bytes()[:8] != PNG_MAGIC:
            problems.append('%s: not a PNG' % where[0])
            continue
        with Image.open(path) as image:
            image.verify()                  # a damaged PNG raises here
        if path.stat().st_size > MAX_BYTES:
            problems.append('%s: %d bytes, over %d' % (where[0], path.stat().st_size, MAX_BYTES))
    assert not problems, '\n'.join(problems)


def test_docs_images_are_all_shown_and_small_together():
    pngs = sorted(IMAGES.glob('*.png'))
    assert pngs, 'docs/images/ holds no PNG'
    total = sum(p.stat().st_size for p in IMAGES.rglob('*') if p.is_file())
    assert total <= MAX_TOTAL, 'docs/images/ holds %d bytes, over %d' % (total, MAX_TOTAL)
    unshown = [p.name for p in pngs if p.resolve() not in shown()]
    assert not unshown, 'docs/images/ pictures no page shows: %s' % unshown


def test_the_command_that_makes_them_is_documented_and_there():
    assert (REPO_ROOT / MAKER).is_file()
    documenting = [p.name for p in pages() if ('.venv/bin/python ' + MAKER) in p.read_text()]
    assert documenting, 'no page says how to run %s' % MAKER
    # Each picture the maker writes is one of its IMAGES rows.
    rows = re.findall(r"^\s*\('([\w.-]+\.png)',", (REPO_ROOT / MAKER).read_text(), re.M)
    missing = [p.name for p in sorted(IMAGES.glob('*.png')) if p.name not in rows]
    assert not missing, '%s makes no %s' % (MAKER, missing)
