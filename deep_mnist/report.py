"""The reproduction report: each claim's verdict, REPRODUCTION.md and reproduction.png."""

import datetime
import os
import platform
import re
import shlex
import statistics

import numpy as np

from deep_mnist import machine, rundir
from deep_mnist.reproduction import CLAIMS, NAMES, QUICK_SUMMARY, SCRIPTS, TF_VERSION

EPS = 1e-12


def claim_number(claim):
    """The claim's number as a fraction and its decimals so written ('99.24%': (0.9924, 4))."""
    match = re.search(r'(\d+(?:\.(\d*))?)\s*(%?)', claim or '')
    if not match:
        return None
    return float(match[1]) / (100 if match[3] else 1), len(match[2] or '') + 2 * bool(match[3])


def claim_threshold(claim):
    """The lowest mean test accuracy that meets ``claim`` (VERDICT_RULE); None without a number."""
    number, wording = claim_number(claim), (claim or '').strip().lower()
    if number is None or wording.startswith('>='):
        return None if number is None else number[0]
    loose = wording.startswith(('~', 'about', 'approx'))
    return round(number[0] - (0.005 if loose else 0.5 * 10 ** -number[1]), 10)


def spread(values):
    """(mean, sample standard deviation or None for one value, min, max)."""
    sd = statistics.stdev(values) if len(values) > 1 else None
    return statistics.mean(values), sd, min(values), max(values)


def verdict(claim, accuracies, quick=False):
    """The verdict (VERDICT_RULE) for the test accuracies of a recipe's seeds."""
    if not accuracies:
        return 'not run'
    if quick:
        return 'quick: not checked'
    threshold = claim_threshold(claim)
    if threshold is None:
        return 'reported'
    mean, dev, _, best = spread(accuracies)
    if mean >= threshold - EPS:
        return 'met'
    if best >= threshold - EPS or (dev is not None and mean + 2 * dev >= threshold - EPS):
        return 'within the spread'
    return 'falls short'


VERDICT_RULE = (
    'A claim "X" is **met** when the mean test accuracy over the seeds is at least X less '
    'half a unit of its last digit (0.992 needs >= 0.9915; 99.24% needs >= 0.99235); a '
    'loose claim ("~0.98", "about 92%") when the mean is at least X - 0.005; a bound '
    '(">= 0.9925") when the mean is at least the bound. Not met, but the best seed or the '
    'mean + 2 standard deviations reaches that threshold: **within the spread**. Otherwise: '
    '**falls short**. A write-up that gives no number is **reported**: nothing to check. '
    'Standard deviations are sample ones (n - 1); --quick runs are not checked.')


def agreement(rows):
    """Whether each checkpoint's recomputed accuracy is the printed one, to half a test image."""
    if all(r['script'] != 'deep_cnn.py' for r in rows):
        return 'n/a (no checkpoint)'
    if any(r.get('recomputed_accuracy') is None for r in rows):
        return 'not recomputed'
    differ = ['seed %d: %g vs %g' % (r['seed'], r['recomputed_accuracy'], r['test_accuracy'])
              for r in rows if abs(r['recomputed_accuracy'] - r['test_accuracy']) > 0.5e-4]
    return 'no (%s)' % '; '.join(differ) if differ else 'yes'


def row(*cells):
    return '| %s |' % ' | '.join(map(str, cells))


def recipe_row(name, rows, failed, quick):
    claim, accuracies = CLAIMS[name], [r['test_accuracy'] for r in rows]
    cells = [NAMES.index(name) + 1, '`%s`' % name,
             '%s (%s)' % (claim.text or 'no number', claim.cite),
             str(len(rows)) + (' + %d failed' % failed if failed else ''),
             ', '.join(str(r['seed']) for r in rows) or '-'] + ['-'] * 6
    if rows:
        mean, dev, low, high = spread(accuracies)
        wall, wall_sd = spread([r['wall_time_s'] for r in rows])[:2]
        rates = [r['steps_per_s'] for r in rows if r.get('steps_per_s')]
        cells[5:] = ['%.4f' % mean, '-' if dev is None else '%.4f' % dev,
                     '%.4f-%.4f' % (low, high), agreement(rows),
                     '%.1f s' % wall + ('' if wall_sd is None else ' ± %.1f' % wall_sd),
                     '%.1f' % statistics.mean(rates) if rates else '-']
    return row(*cells, verdict(claim.text, accuracies, quick))


def describe_stdout(path):
    try:
        with open(path, errors='replace') as f:
            text = f.read().strip()
    except OSError:
        return 'its stdout.txt is gone'
    if not text:
        return 'nothing'
    steps = [int(s) for s in re.findall(r'^\s*step (\d+), training accuracy', text, re.M)]
    epochs = re.findall(r'^\s*Step \d+ out of \d+ loss:', text, re.M)
    parts = ['%d `step %%d, training accuracy %%g` lines (steps %d-%d)'
             % (len(steps), steps[0], steps[-1])] if steps else []
    parts += ['%d `Step E out of N loss: L` lines' % len(epochs)] if epochs else []
    last = '`%s`' % text.splitlines()[-1].strip()
    return ', then '.join(parts + [last]) if parts else 'only ' + last


def write_markdown(path, args, argv, results):
    done = sum(len(rows) for rows, _ in results.values())
    lines = ['# Reproducing "Deep MNIST for Experts"', '',
             'Written by `reproduce.py`; run the same command again to update it (recorded '
             'runs are kept, see `reproduction.json` for each run\'s exact command line).', '',
             '| | |', '|---|---|',
             row('command', '`%s`' % shlex.join(['python', 'reproduce.py'] + list(argv))),
             row('date', datetime.datetime.now().isoformat(sep=' ', timespec='minutes')),
             row('machine', '%s; %s' % (platform.platform(), machine.description())),
             row('TensorFlow', TF_VERSION), row('Python', platform.python_version()),
             row('runs', '%d of %d planned (%s per recipe)' % (done, len(results) * args.seeds,
                 'seed 1' if args.seeds == 1 else 'seeds 1-%d' % args.seeds)),
             '']
    if args.quick:
        lines += ['**A --quick smoke run** (%s): the accuracies say nothing about the '
                  'claims, which are not checked.' % QUICK_SUMMARY, '']
    lines += ['## Verdict rule', '', VERDICT_RULE, '', '## Results', '',
              '| step | script & recipe | claim (source) | n | seeds | mean | sd | min-max | '
              'checkpoint agrees | wall time / run | steps/s | verdict |',
              '|' + '---|' * 12]
    lines += [recipe_row(name, rows, failed, args.quick)
              for name, (rows, failed) in results.items()]
    lines += ['', 'Wall time: the whole process (TensorFlow start-up, data, training, test), '
              'mean ± sd. steps/s: the training loop alone. checkpoint agrees: the test '
              'accuracy recomputed from the saved checkpoint is the printed one.', '',
              '## Runs', '', '| recipe | seed | test accuracy | from checkpoint | steps | '
              'steps/s | wall time | date |', '|' + '---|' * 8]
    lines += [row('`%s`' % name, r['seed'], '%g' % r['test_accuracy'],
                  '-' if r.get('recomputed_accuracy') is None else '%g' % r['recomputed_accuracy'],
                  r.get('steps') or '-', r.get('steps_per_s') or '-',
                  '%.1f s' % r['wall_time_s'], r.get('date', '-'))
              for name, (rows, _) in results.items() for r in rows]
    lines += ['', '## Notes', '', 'What each write-up claims and prints, and what our script '
              'printed here.' + (' (Ours: a --quick run, so fewer steps.)' * args.quick), '']
    for name, (rows, _) in results.items():
        claim = CLAIMS[name]
        lines += ['### %d. `%s`' % (NAMES.index(name) + 1, name), '',
                  '- Claim: %s. %s.' % (claim.text or 'no number', claim.detail)]
        if claim.printed:
            lines.append('- The write-up prints: %s' % claim.printed)
        if rows:
            first = min(rows, key=lambda r: r['seed'])
            lines.append('- Ours printed (seed %d, `%s/stdout.txt`): %s.' % (
                first['seed'], first['run_dir'], describe_stdout(
                    os.path.join(os.path.dirname(path), first['run_dir'], 'stdout.txt'))))
            outcome = verdict(claim.text, [r['test_accuracy'] for r in rows], args.quick)
            if outcome in ('within the spread', 'falls short'):
                lines.append('- Why the mean misses the claim: %s'
                             % (claim.note or 'not explained yet.'))
        lines.append('')
    rundir.write_atomically(path, '\n'.join(lines))


def write_png(path, results, quick):
    """A panel per script: a dot per seed, the mean as a bar and the claim as a diamond."""
    from matplotlib.figure import Figure     # not pyplot: headless, and nothing to close
    # Two panels, since softmax (~0.92) and CNN (~0.99) on one axis would hide the last percent.
    groups = [g for g in ([n for n in results if n.startswith(k + '/')] for k in SCRIPTS) if g]
    fig = Figure(figsize=(11, 5))
    axes = fig.subplots(1, len(groups), squeeze=False,
                        gridspec_kw={'width_ratios': [max(len(g), 2) for g in groups]})[0]
    handles = {}
    for ax, names in zip(axes, groups):
        for x, name in enumerate(names):
            accuracies = [r['test_accuracy'] for r in results[name][0]]
            if accuracies:
                # Spread the seeds sideways a little, so equal accuracies stay visible.
                spread_x = 0.15 * (len(accuracies) > 1)
                ax.scatter(x + np.linspace(-spread_x, spread_x, len(accuracies)), accuracies,
                           s=22, color='tab:blue', zorder=3, label='run (one per seed)')
                ax.hlines(statistics.mean(accuracies), x - 0.3, x + 0.3, color='black', lw=2,
                          label='mean')
            number = claim_number(CLAIMS[name].text)
            if number:
                ax.scatter([x + 0.38], [number[0]], marker='D', s=40, color='tab:red',
                           zorder=4, label='claim')
        ax.set_xticks(range(len(names)), names, rotation=30, ha='right')
        ax.set(xlim=(-0.6, len(names) - 0.4), ymargin=0.2, xlabel='script/recipe',
               title=SCRIPTS[names[0].split('/')[0]])
        ax.grid(axis='y', alpha=0.3)
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    axes[0].set_ylabel('test accuracy')
    fig.legend(list(handles.values()), list(handles), loc='lower center', ncol=3)
    fig.suptitle('Deep MNIST for Experts, reproduced%s: %s, TensorFlow %s'
                 % (' (--quick smoke run)' if quick else '', machine.description(), TF_VERSION))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
