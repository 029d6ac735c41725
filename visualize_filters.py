"""Look inside the trained CNN: restore a deep_cnn.py checkpoint into ``deep_cnn.deepnn``
(write-up 001 copied the graph code; we do not) and draw 001's figures of its filters, what
they make of test digits and its mistakes (docs/visualize_filters.md)."""

import contextlib
import dataclasses
import io
import os
import sys

import matplotlib
import numpy as np

import deep_cnn
import mnist_data
from deep_mnist import checkpoints, cli, curves, figures, rundir, signals, tfstart

MAX_SAMPLES = 100   # one figure row (conv2: two) per digit


class VisualizeError(Exception):
    """A flag that does not fit the checkpoint, or figures that cannot be written."""


def parse_args(argv=None):
    p = cli.ArgumentParser(description='Plot the filters, activations, mistakes and '
                                       'learning curve of a deep_cnn.py checkpoint.')
    checkpoints.add_checkpoint_flags(p)
    p.add_argument('--data_dir', default=mnist_data.default_data_dir(),
                   help='MNIST files (default: $MNIST_DATA_DIR or MNIST_data)')
    p.add_argument('--output_dir', default='figures', help='where the PNGs go (default: figures)')
    samples = cli.checked_type(int, lambda v: 1 <= v <= MAX_SAMPLES,
                               'an integer from 1 to %d' % MAX_SAMPLES)
    p.add_argument('--samples', type=samples, default=10,
                   help='the first N test digits go in conv1.png and conv2.png (default: 10)')
    p.add_argument('--subfilter', type=cli.nonnegative_int, default=0,
                   help='the sub-filter of each conv2 filter conv2.png shows (default: 0, as 001)')
    p.add_argument('--conv2_filter', type=cli.nonnegative_int, metavar='K',
                   help='also write conv2_filter<K>.png: all sub-filters of conv2 filter K')
    p.add_argument('--misclassified', type=cli.nonnegative_int, default=50, metavar='N',
                   help='show at most N misclassified test digits, 0 for no figure (default: 50)')
    p.add_argument('--log_dir',
                   help="the learning curve's TensorBoard logs (default: run.json's log_dir)")
    p.add_argument('--show', action='store_true', help='also open the figures in windows')
    p.add_argument('--upsample', action='store_true',
                   help="draw conv2.png's 7x7 maps bilinear, not as 001's blocks of cells")
    p.add_argument('--over_training', action='store_true',
                   help='instead: conv1 and a digit at each snapshot (filters_over_training.*)')
    return checkpoints.parse_checkpoint_flags(p, argv)


def check_filter_flags(args, shapes, recipe):
    """--subfilter and --conv2_filter must name filters the network has."""
    w2 = shapes.get('conv2/W_conv2')
    if args.conv2_filter is not None and w2 is None:
        raise VisualizeError('--conv2_filter: the %s network has no conv2 layer' % recipe)
    if w2 is not None:
        for flag, value, limit, what in (
                ('--subfilter', args.subfilter, w2[2], 'each conv2 filter has %d sub-filters'),
                ('--conv2_filter', args.conv2_filter, w2[3], 'conv2 has %d filters')):
            if value is not None and value >= limit:
                raise VisualizeError('%s %d: %s, 0-%d' % (flag, value, what % limit, limit - 1))


@dataclasses.dataclass
class Seen:
    """A checkpoint's run, and its network on the test set."""
    checkpoint: str
    step: int
    config: object          # the recipes.Config that trained it
    record: dict            # its run.json, well-formed fields ({} when the recipe was guessed)
    images: np.ndarray      # the test images [N, 784]
    labels: np.ndarray      # their labels [N]
    out: dict               # what Network.run returned
    wrong: np.ndarray       # indices of the misclassified test images

    @property
    def accuracy(self):
        return 1 - len(self.wrong) / len(self.labels)

    @property
    def about(self):
        return '%s, recipe %s, step %d, test accuracy %.4f' % (
            os.path.basename(self.checkpoint), self.config.recipe, self.step, self.accuracy)


def look(args):
    """Restore the checkpoint the flags name, check the flags against it, run the test set."""
    test = mnist_data.read_data_sets(args.data_dir).test
    k = args.conv2_filter

    def conv2_sums(layers):
        """--conv2_filter K's sub-filters' 'contributions' (kept apart), and their sum."""
        tf = tfstart.import_tf()
        return {'contributions': tf.nn.depthwise_conv2d(
                    layers['h_pool1'][:1], layers['W_conv2'][:, :, :, k:k + 1],
                    strides=[1, 1, 1, 1], padding='SAME')[0],
                'h_conv2_k': layers['h_conv2'][0, :, :, k]}
    with checkpoints.open_checkpoint(
            deep_cnn.deepnn, args, extras=conv2_sums if k is not None else None,
            check=lambda shapes, config: check_filter_flags(args, shapes, config.recipe)) as net:
        if net.note:
            print('visualize_filters: %s' % net.note, file=sys.stderr)
        names = [n for n in ('W_conv1', 'h_pool1', 'W_conv2', 'h_pool2', 'contributions',
                             'h_conv2_k') if n in net.layers]
        out = net.run(names, test.images[:args.samples])
        out['predictions'] = net.predict(test.images).argmax(1)
    seen = Seen(net.prefix, net.step, net.config, net.record, test.images, test.labels, out,
                np.flatnonzero(out['predictions'] != test.labels))
    print('visualize_filters: %s (recipe %s, step %d): test accuracy %.4f, %d misclassified'
          % (net.prefix, net.config.recipe, net.step, seen.accuracy, len(seen.wrong)),
          file=sys.stderr)
    return seen


def layer_figures(args, seen):
    """[(file name, figure)] of conv1.png, conv2.png and conv2_filter<K>.png."""
    out, n = seen.out, args.samples
    images, labels, predictions = seen.images[:n], seen.labels[:n], out['predictions'][:n]
    about = ('%s. Each row: a test digit, label \u2192 prediction (red: wrong), then its '
             'maps.\n%s' % (seen.about, figures.SCALES_CAPTION))
    named = [('conv1.png', figures.plot_layer(
        out['W_conv1'][:, :, 0, :], images, out['h_pool1'], labels, predictions, rows=1,
        filter_label='W_conv1',
        title='conv1: %d filters (5\u00d75) and the pooled maps h_pool1 (14\u00d714) of '
              '%d test digits' % (out['W_conv1'].shape[-1], n),
        subtitle=about))]
    if 'W_conv2' in out:
        named.append(('conv2.png', figures.plot_layer(
            out['W_conv2'][:, :, args.subfilter, :], images, out['h_pool2'], labels,
            predictions, rows=2, filter_label='W_conv2', smooth_maps=args.upsample,
            title='conv2: sub-filter %d of each of its %d filters, and the pooled maps '
                  'h_pool2 (7\u00d77) of %d test digits'
                  % (args.subfilter, out['W_conv2'].shape[-1], n),
            subtitle='%s\n%s' % (about, figures.POOLED2_CAPTION
                                 + (figures.SMOOTHED_CAPTION if args.upsample else '')))))
    if args.conv2_filter is not None:
        k = args.conv2_filter
        named.append(('conv2_filter%d.png' % k, figures.plot_conv2_filter(
            k, out['W_conv1'][:, :, 0, :], out['W_conv2'][:, :, :, k], seen.images[0],
            seen.labels[0], out['predictions'][0], out['h_pool1'][0], out['contributions'],
            out['h_conv2_k'],
            title='conv2 filter %d: its %d sub-filters, one per conv1 map, and how they '
                  'add up for one digit' % (k, out['W_conv2'].shape[2]),
            subtitle='%s.\nRows: the conv1 filters; the sub-filters of %d (grey = 0); a '
                     'digit\'s pooled conv1 maps (white = 0); each sub-filter run over its '
                     'map (grey = 0). Their sum + bias, through the ReLU, is conv2 map %d.'
                     % (seen.about, k, k))))
    return named


def curve_figure(args, seen):
    """('learning_curve.png', figure) up to the checkpoint's step, or None with a line why."""
    config = seen.config
    log_dir = args.log_dir or (config.log_dir if seen.record else None)
    curve = curves.learning_curve(seen.record, log_dir, seen.step, seen.accuracy,
                                  config if seen.record else None)
    if curve is None:
        print('visualize_filters: no learning curve: no run.json history beside %s and no '
              'event files in %s' % (seen.checkpoint, log_dir or '(no --log_dir given)'),
              file=sys.stderr)
        return None
    return 'learning_curve.png', curves.plot_learning_curve(
        curve, title='Learning curve: how the error falls as recipe %s trains (%s)'
                     % (config.recipe, os.path.basename(seen.checkpoint)))


def draw(args, seen):
    """([(file name, figure)], {file name: JSON-able}) of what was seen."""
    named, extra = layer_figures(args, seen), {}
    if args.misclassified:
        shown, predictions = seen.wrong[:args.misclassified], seen.out['predictions']
        wrong, total = seen.wrong, len(seen.labels)
        named.append(('misclassified.png', figures.plot_misclassified(
            seen.images, seen.labels, predictions, shown, total,
            title='Misclassified test digits: %d of %d%s' % (
                len(wrong), total,
                ', the first %d shown' % len(shown) if len(shown) < len(wrong) else ''),
            subtitle='%s.\nCaptions: label \u2192 prediction (red), then #index in the test '
                     'set (grey).' % seen.about)))
        extra['misclassified.json'] = {
            'checkpoint': seen.checkpoint, 'recipe': seen.config.recipe, 'step': seen.step,
            'test_images': total, 'misclassified': len(wrong),
            'shown': [{'index': int(i), 'label': int(seen.labels[i]),
                       'prediction': int(predictions[i])} for i in shown]}
    curve = curve_figure(args, seen)
    named += [curve] if curve else []
    return named, extra


def write_figures(args, named, extra):
    """Save the figures (a list of PIL images: a GIF) and the ``extra`` JSON files."""
    import matplotlib.pyplot as plt
    try:
        os.makedirs(args.output_dir, exist_ok=True)
        for filename, item in [*named, *extra.items()]:
            path = os.path.join(args.output_dir, filename)
            if isinstance(item, dict):
                rundir.write_json(path, item, indent=1)
            elif isinstance(item, list):
                item[0].save(path, save_all=True, append_images=item[1:], duration=900,
                             loop=0)     # 900 ms a snapshot
            else:
                item.savefig(path, dpi=figures.DPI)
                if not args.show:
                    plt.close(item)
            print('wrote %s' % path, flush=True)
    except OSError as e:
        raise VisualizeError('cannot write into %s: %s' % (args.output_dir, e)) from None


def write_over_training(args):
    """filters_over_training.png and .gif: conv1 and a digit at each snapshot (damaged: skipped)."""
    import matplotlib.pyplot as plt
    from PIL import Image
    test = mnist_data.read_data_sets(args.data_dir).test
    frames, label = [], int(test.labels[0])
    with checkpoints.open_checkpoint(deep_cnn.deepnn, args) as net:
        for step in [s for s in checkpoints.steps_of(net) if s <= net.step]:
            try:
                seen = net.at_step(step)
            except checkpoints.CheckpointError as e:
                print('visualize_filters: skipped %s' % e, file=sys.stderr)
                continue
            with contextlib.closing(seen) if seen is not net else contextlib.nullcontext():
                out = seen.run(['W_conv1', 'probabilities'], test.images[:1])
            frames.append((step, out['W_conv1'][:, :, 0, :], out['probabilities'][0]))
    title = 'conv1 and one digit over training: %d snapshot%s' % (
        len(frames), 's' * (len(frames) > 1))
    about = ('%s, recipe %s. Under each step: how far conv1 moved from the first row '
             '(|W - W0| / |W0|); its %d filters, each row on its own scale (white the most '
             'negative weight, black the most positive); test digit 0 (a %d), its ten '
             'probabilities.' % (os.path.basename(net.prefix), net.config.recipe,
                                 frames[-1][1].shape[-1], label))
    animation = []
    for frame in frames:
        fig = curves.plot_over_training([frame], label, title, about, first=frames[0][1])
        fig.savefig(out := io.BytesIO(), dpi=figures.DPI, format='png')
        plt.close(fig)
        animation.append(Image.open(out).convert('RGB'))
    write_figures(args, [
        ('filters_over_training.png', curves.plot_over_training(frames, label, title, about)),
        ('filters_over_training.gif', animation)], {})


def visualize(args):
    """Restore, evaluate, draw, write; the exit code."""
    if args.over_training:
        write_over_training(args)
    else:
        write_figures(args, *draw(args, look(args)))
    if args.show:
        import matplotlib.pyplot as plt
        plt.show()
    return 0


def main(argv=None):
    args = parse_args(argv)
    if not args.show:
        matplotlib.use('Agg')   # headless: no display needed, nothing pops up
    return cli.reported('visualize_filters', lambda: visualize(args), (
        VisualizeError, checkpoints.CheckpointError, mnist_data.MNISTDataError))


if __name__ == '__main__':
    sys.exit(signals.quiet_if_stdout_closes(main))
