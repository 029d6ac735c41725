"""The notebook's "Open in Colab" badge and the repository its setup cell clones, both
built from pyproject.toml's ``[project.urls] Repository`` (docs/notebook.md). They are
replaced in the file's text, so every other byte stays as it was."""

import os
import re
import sys

try:
    import tomllib
except ImportError:     # Python 3.10
    import tomli as tomllib

from deep_mnist import cli

NOTEBOOK = os.path.join('notebooks', 'deep_mnist.ipynb')
BRANCH = 'main'     # the branch Colab opens the notebook from
GITHUB = re.compile(r'https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?')
# In the notebook's text: the badge's target (first cell), the setup cell's clone URL.
BADGE = re.compile(r'https://colab\.research\.google\.com/github/[^)\s"]+')
CLONE = re.compile(r"^(\s*\"REPOSITORY = ')[^']*(')", re.M)


class LinkError(Exception):
    """pyproject.toml or the notebook is not as this module expects."""


def repository_url(root):
    """``Repository`` of pyproject.toml's ``[project.urls]`` table."""
    path = os.path.join(root, 'pyproject.toml')
    with open(path, 'rb') as f:
        url = tomllib.load(f).get('project', {}).get('urls', {}).get('Repository')
    if not isinstance(url, str):
        raise LinkError('%s: no Repository = "..." in its [project.urls] table' % path)
    if not GITHUB.fullmatch(url):
        raise LinkError('%s: Repository %r is not a https://github.com/OWNER/NAME URL, '
                        'which Colab needs' % (path, url))
    return url


def links(repository):
    """(the Colab badge's target, the clone URL) for a GitHub repository URL."""
    owner, name = GITHUB.fullmatch(repository).groups()
    return ('https://colab.research.google.com/github/%s/%s/blob/%s/%s' % (
        owner, name, BRANCH, NOTEBOOK.replace(os.sep, '/')),
        'https://github.com/%s/%s' % (owner, name))


def rewritten(text, repository):
    """The notebook's text with both links built from ``repository``."""
    badge, clone = links(repository)
    for pattern, what in ((BADGE, 'Colab badge'), (CLONE, "setup cell's REPOSITORY = '...'")):
        if len(pattern.findall(text)) != 1:
            raise LinkError('%s: expected one %s, found %d'
                            % (NOTEBOOK, what, len(pattern.findall(text))))
    text = BADGE.sub(badge, text)
    return CLONE.sub(lambda m: m.group(1) + clone + m.group(2), text)


def main(argv=None):
    p = cli.ArgumentParser(description="Build the notebook's Colab badge and clone URL "
                                       "from pyproject.toml's [project.urls] Repository.")
    p.add_argument('--check', action='store_true',
                   help='change nothing; exit 1 if the notebook disagrees with pyproject.toml')
    p.add_argument('--root', default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                   help='the repository (default: the checkout of this module)')
    args = p.parse_args(argv)
    return cli.reported('notebook_links', lambda: update(args), (LinkError, OSError))


def update(args):
    path = os.path.join(args.root, NOTEBOOK)
    repository = repository_url(args.root)
    with open(path, encoding='utf-8', newline='') as f:
        text = f.read()
    new = rewritten(text, repository)
    if new == text:
        print('%s: links agree with %s' % (NOTEBOOK, repository))
        return 0
    if args.check:
        raise LinkError("%s: links differ from pyproject.toml's Repository %s; run python -m "
                        'deep_mnist.notebook_links' % (NOTEBOOK, repository))
    with open(path, 'w', encoding='utf-8', newline='') as f:
        f.write(new)
    print('%s: links rewritten for %s' % (NOTEBOOK, repository))
    return 0


if __name__ == '__main__':
    sys.exit(main())
