"""How near the CPU's ceiling the training step runs, and the loop time of `fast` against
`expert` that follows; the cases interleaved in one process (bench/README.md)."""

import contextlib
import statistics
import sys
import timeit

import numpy as np

import common
from deep_mnist import recipes, tfstart

N = 2048
CONV1, CONV2 = 2 * 28 * 28 * 32 * 25, 2 * 14 * 14 * 64 * 25 * 32   # forward FLOPs per image
CONV_LAYERS = CONV1 * 2 + CONV2 * 3    # no gradient to the image: conv1 is 2x, not 3x
STEP = CONV_LAYERS + (2 * 7 * 7 * 64 * 1024 + 2 * 1024 * 10) * 3   # 82.1 MFLOP an image
CEILING_CASES = ('matmul', 'big conv')  # the ceiling of a precision is the best of these
EXPERT = 'expert step (fp32, batch 50)'


def graph_cases(precision, images, stack):
    """{case: (run, FLOPs a run)} in ``precision``: a 3x3 convolution of 512 channels on 16
    maps of 32 x 32, oneDNN's best case; the network's conv layers forward and backward to
    their weights (not to the image) on ``images``."""
    _, model, sess = common.session(recipes.resolve('expert', precision=precision), stack)
    tf, rng, layers = tfstart.tf, np.random.RandomState(0), model.net.layers
    with model.graph.as_default():
        x = tf.Variable(rng.randn(16, 32, 32, 512).astype(np.float32))
        w = tf.Variable(rng.randn(3, 3, 512, 512).astype(np.float32) / 50)
        big = tf.reduce_sum(tf.nn.conv2d(x, w, [1, 1, 1, 1], 'SAME'))
        # fetched, not grouped: a group of the gradients let the graph skip the work
        conv = tf.add_n([tf.reduce_sum(g) for g in tf.gradients(
            tf.reduce_sum(layers['h_pool2']), [layers['W_conv1'], layers['W_conv2']])])
        sess.run(tf.variables_initializer([x, w]))
    return {'big conv ' + precision: (lambda: sess.run(big), 2 * 16 * 32 * 32 * 512 ** 2 * 9),
            'conv layers %s, batch %d' % (precision, len(images)): (
                lambda: sess.run(conv, {model.x: images}), len(images) * CONV_LAYERS)}


def timed(run, seconds):
    """Calls per second of run() over about ``seconds``, once autorange's calls (the first
    of them a warm-up) have said how many that is."""
    timer = timeit.Timer(run)
    calls, took = timer.autorange()
    calls = max(1, round(seconds * calls / took))
    return calls / timer.timeit(calls)


def gflops(args, data, steps):
    """{case: [GFLOP/s, one per round]}; ``steps``: {case: config of its training step}."""
    a = np.random.RandomState(0).randn(N, N).astype(np.float32)
    cases = {'matmul fp32 (numpy)': ((lambda: a @ a), 2 * N ** 3)}
    with contextlib.ExitStack() as stack:
        for p in dict.fromkeys(c.precision for c in steps.values()):
            cases.update(graph_cases(p, data.train.images[:{'fp32': 256, 'bf16': 128}[p]], stack))
        for name, config in steps.items():
            opened = common.session(config, stack)
            cases[name] = (lambda opened=opened: common.train_steps(data, *opened, 1),
                           config.batch_size * STEP)
        return common.interleaved(cases, args.rounds, lambda name: timed(
            cases[name][0], args.seconds) * cases[name][1] / 1e9)


def measure(args):
    steps = {EXPERT: recipes.resolve('expert')}
    for p in [p for p in ('fp32', 'bf16') if recipes.computes_in(p) == p]:
        fast = recipes.resolve('fast', precision=p)
        steps['fast step %s (batch %d)' % (p, fast.batch_size)] = fast
    per_round = gflops(args, common.mnist(), steps)
    g = {name: statistics.median(f) for name, f in per_round.items()}
    ceiling = {p: max(v for n, v in g.items() if n.startswith(CEILING_CASES) and p in n)
               for p in dict.fromkeys(c.precision for c in steps.values())}
    print('ceiling: ' + ', '.join('%s %.1f GFLOP/s' % pc for pc in ceiling.items()))
    print('%-30s %8s %11s' % ('case', 'GFLOP/s', 'of ceiling'))
    for name, v in g.items():
        of = ceiling['bf16' if 'bf16' in name else 'fp32']
        print('%-30s %8.1f %10.0f%%%s' % (name, v, 100 * v / of, '  (above: the ceiling cases '
                                          'fell short, busy cores?)' if v > of else ''))
    images_s = {name: g[name] * 1e9 / STEP for name in steps}
    loop_s = {name: c.steps * c.batch_size / images_s[name] for name, c in steps.items()}
    print('\nTraining loop, from images/s (whole process: bench/bench_accuracy.py):')
    for name, c in steps.items():
        print('  %s: %d steps at %.0f images/s: %.0f s, %.3fx expert' % (
            name, c.steps, images_s[name], loop_s[name], loop_s[name] / loop_s[EXPERT]))
    return {'gflops': g, 'gflops_per_round': per_round, 'train_flops_per_image': STEP,
            'ceiling': ceiling, 'loop_s': loop_s}


if __name__ == '__main__':
    sys.exit(common.main('ceiling', __doc__, measure, rounds=3, seconds=4.0))
