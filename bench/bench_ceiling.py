"""How near the CPU's ceiling the training step runs, and the loop time of `fast` against
`expert` that follows; the cases interleaved in one process (bench/README.md).

    .venv/bin/python bench/bench_ceiling.py [--rounds 3] [--seconds 4]
"""

import contextlib
import statistics
import sys
import time

import numpy as np

import common
from deep_mnist import recipes, tfstart

N = 2048
CONV1, CONV2 = 2 * 28 * 28 * 32 * 25, 2 * 14 * 14 * 64 * 25 * 32   # forward FLOPs per image
CONV_LAYERS = CONV1 * 2 + CONV2 * 3    # no gradient to the image: conv1 is 2x, not 3x
STEP = CONV_LAYERS + (2 * 7 * 7 * 64 * 1024 + 2 * 1024 * 10) * 3   # 82.1 MFLOP an image


def graph_cases(precision, images, stack):
    """{case: (run, FLOPs a run)} of the TensorFlow cases in ``precision``: 4 chained N x N
    products; a 3x3 convolution of 512 channels on 16 maps of 32 x 32, oneDNN's best case;
    the two conv layers forward and backward on ``images``."""
    tf, rng = tfstart.tf, np.random.RandomState(0)
    graph = tf.Graph()
    with graph.as_default():
        a, b = (tf.Variable(rng.randn(N, N).astype(np.float32) / np.sqrt(N)) for _ in range(2))
        for _ in range(4):
            a = tf.matmul(a, b)
        x = tf.Variable(rng.randn(16, 32, 32, 512).astype(np.float32))
        w = tf.Variable(rng.randn(3, 3, 512, 512).astype(np.float32) / 50)
        big = tf.reduce_sum(tf.nn.conv2d(x, w, [1, 1, 1, 1], 'SAME'))
        ws = [tf.Variable(tf.truncated_normal(s, stddev=0.1)) for s in ([5, 5, 1, 32],
                                                                         [5, 5, 32, 64])]
        h = tf.constant(images.reshape(-1, 28, 28, 1))
        for w in ws:
            h = tf.nn.max_pool(tf.nn.relu(tf.nn.conv2d(h, w, [1, 1, 1, 1], 'SAME')),
                               [1, 2, 2, 1], [1, 2, 2, 1], 'SAME')
        # fetched, not grouped: a group of the gradients let the graph skip the work
        conv = tf.add_n([tf.reduce_sum(g) for g in tf.gradients(tf.reduce_sum(h), ws)])
        init = tf.global_variables_initializer()
    sess = stack.enter_context(tfstart.new_session(
        graph, config=tfstart.session_config(precision)))
    sess.run(init)
    return {'matmul ' + precision: (lambda: sess.run(a[0, 0]), 8 * N ** 3),
            'big conv ' + precision: (lambda: sess.run(big), 2 * 16 * 32 * 32 * 512 ** 2 * 9),
            'conv layers %s, batch %d' % (precision, len(images)): (
                lambda: sess.run(conv), len(images) * CONV_LAYERS)}


def timed(run, seconds):
    """Calls per second of run() over about ``seconds`` (after one untimed call)."""
    run()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        run()
        calls += 1
    return calls / (time.perf_counter() - t0)


def gflops(args, data, fast):
    """{case: [GFLOP/s, one per round]}."""
    a, b = (np.random.RandomState(0).randn(N, N).astype(np.float32) for _ in range(2))
    with contextlib.ExitStack() as stack:
        expert = common.session(recipes.resolve('expert'), stack)
        cases = {'matmul fp32 (numpy)': ((lambda: a @ b), 2 * N ** 3),
                 'expert step (fp32, batch 50)': (
                     lambda: common.train_steps(data, *expert, 1), 50 * STEP)}
        for p in ('fp32', 'bf16') if recipes.computes_in('bf16') == 'bf16' else ('fp32',):
            cases.update(graph_cases(p, data.train.images[:{'fp32': 256, 'bf16': 128}[p]], stack))
            step = common.session(recipes.resolve('expert', batch_size=fast[p].batch_size,
                                                  precision=p), stack)
            cases['fast step %s (batch %d)' % (p, fast[p].batch_size)] = (
                lambda step=step: common.train_steps(data, *step, 1), fast[p].batch_size * STEP)
        return common.interleaved(cases, args.rounds, lambda name: timed(
            cases[name][0], args.seconds) * cases[name][1] / 1e9)


def measure(args):
    fast = {p: recipes.resolve('fast', precision=p) for p in ('fp32', 'bf16')}
    per_round = gflops(args, common.mnist(), fast)
    g = {name: statistics.median(f) for name, f in per_round.items()}
    ceiling = {p: max([v for n, v in g.items() if n.startswith(('matmul ' + p, 'big conv ' + p))],
                      default=None) for p in ('fp32', 'bf16')}
    print('ceiling: ' + ', '.join('%s %.1f GFLOP/s' % pc for pc in ceiling.items() if pc[1]))
    print('%-30s %8s %14s %14s' % ('case', 'GFLOP/s', 'of fp32 ceil.', 'of bf16 ceil.'))
    for name, v in g.items():
        print('%-30s %8.1f %13.0f%% %14s' % (name, v, 100 * v / ceiling['fp32'], '%.0f%%' % (
            100 * v / ceiling['bf16']) if ceiling['bf16'] else '-'))
        if 'step' in name and v > ceiling['bf16' if 'bf16' in name else 'fp32']:
            print('note: %s ran above its ceiling: the ceiling cases fell short of the CPU\'s '
                  'peak (busy cores?); take the fractions as upper bounds' % name)
    rate = {name: v * 1e9 / STEP for name, v in g.items() if 'step' in name}
    ratios, expert = {}, recipes.resolve('expert')
    expert_s = expert.steps * expert.batch_size / rate['expert step (fp32, batch 50)']
    print('\nTraining loop, from images/s (whole process: bench/bench_accuracy.py):')
    print('  expert: %d steps of %d at %.0f images/s: %.0f s' % (
        expert.steps, expert.batch_size, rate['expert step (fp32, batch 50)'], expert_s))
    for p, c in fast.items():
        name = 'fast step %s (batch %d)' % (p, c.batch_size)
        if name in rate:
            ratios[p] = c.steps * c.batch_size / rate[name] / expert_s
            print('  fast in %s: %d steps of %d at %.0f images/s: %.0f s, %.3fx expert' % (
                p, c.steps, c.batch_size, rate[name], ratios[p] * expert_s, ratios[p]))
    return {'gflops': g, 'gflops_per_round': per_round, 'train_flops_per_image': STEP,
            'loop_ratio_fast_to_expert': ratios}


if __name__ == '__main__':
    sys.exit(common.main('ceiling', __doc__, measure, rounds=3, seconds=4.0))
