"""How near the CPU's ceiling the training step runs, and what that makes of `fast`
against `expert`: one command, one process, interleaved.

    .venv/bin/python bench/bench_ceiling.py [--rounds 3] [--seconds 4]

Measures, round by round (so drift hits all alike):
  - the ceiling, the best of: a 2048 x 2048 matrix product in TensorFlow and in numpy,
    and a large 3x3 convolution (512 channels) through oneDNN; fp32, and bf16 where the
    CPU has it;
  - the two conv layers alone (forward, and backward to their weights and conv2's input);
  - the whole training step of the expert network: `expert` (fp32, batch 50), `fast` in
    fp32 (its fp32 schedule's batch) and, where native, in bf16 (batch 128).
FLOP/s counts multiply-adds as 2 FLOPs: per image the network's forward pass is
conv1 1.25 M + conv2 20.07 M + fc1 6.42 M + fc2 0.02 M = 27.8 MFLOP, and a training
step ~3x that (the backward pass computes gradients to the weights and to each layer's
input, but not to the image): 82.1 MFLOP per image. Then the training loop's time of
`fast` as a fraction of `expert`'s, from the images each trains and their images/s
(the whole process adds start-up and the test pass: bench/bench_accuracy.py measures
that). The first line names the CPU class: bf16 / AVX-512 / AVX2 / ARM.
"""

import contextlib
import statistics
import sys
import time

import numpy as np

import common
import deep_cnn
import mnist_data
from deep_mnist import cli, machine, recipes, tfstart

N = 2048


def conv_flops():
    """Per image: (conv1, conv2, fc1, fc2) forward FLOPs of the expert network."""
    return (2 * 28 * 28 * 32 * 5 * 5 * 1, 2 * 14 * 14 * 64 * 5 * 5 * 32,
            2 * 7 * 7 * 64 * 1024, 2 * 1024 * 10)


def train_flops_per_image():
    c1, c2, f1, f2 = conv_flops()
    return c1 * 2 + (c2 + f1 + f2) * 3     # no gradient to the image: conv1 is 2x, not 3x


def conv_layers_flops_per_image():
    c1, c2, _, _ = conv_flops()
    return c1 * 2 + c2 * 3


def timed(run, seconds):
    """Calls per second of run() over about ``seconds`` (after one untimed call)."""
    run()
    calls, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        run()
        calls += 1
    return calls / (time.perf_counter() - t0)


def matmul_case(precision, stack):
    """A function running 4 chained N x N products, and its FLOPs per call; in bf16
    through the same oneDNN rewrite as a bf16 run (session_config)."""
    tf = tfstart.tf
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.RandomState(0)
        a = tf.Variable(rng.randn(N, N).astype(np.float32) / np.sqrt(N))
        b = tf.Variable(rng.randn(N, N).astype(np.float32) / np.sqrt(N))
        c = a
        for _ in range(4):
            c = tf.matmul(c, b)
        out = c[0, 0]
        init = tf.global_variables_initializer()
    sess = stack.enter_context(tfstart.new_session(
        graph, config=tfstart.session_config(precision)))
    sess.run(init)
    return (lambda: sess.run(out)), 4 * 2 * N ** 3


def numpy_matmul_case():
    """numpy's (BLAS) N x N product: a second opinion on the fp32 ceiling."""
    rng = np.random.RandomState(0)
    a, b = (rng.randn(N, N).astype(np.float32) for _ in range(2))
    return (lambda: a @ b), 2 * N ** 3


def big_conv_case(precision, stack):
    """A 3x3 convolution of 512 channels to 512 on 16 maps of 32 x 32: the compute-bound
    work oneDNN's kernels do best (TensorFlow's and numpy's matrix products reached
    well under it on the AMD EPYC); in bf16 through the run's rewrite."""
    tf = tfstart.tf
    graph = tf.Graph()
    with graph.as_default():
        rng = np.random.RandomState(0)
        x = tf.Variable(rng.randn(16, 32, 32, 512).astype(np.float32))
        w = tf.Variable(rng.randn(3, 3, 512, 512).astype(np.float32) / 50)
        out = tf.reduce_sum(tf.nn.conv2d(x, w, [1, 1, 1, 1], 'SAME'))
        init = tf.global_variables_initializer()
    sess = stack.enter_context(tfstart.new_session(
        graph, config=tfstart.session_config(precision)))
    sess.run(init)
    return (lambda: sess.run(out)), 2 * 16 * 32 * 32 * 512 * 512 * 9


def conv_case(precision, batch_size, mnist, stack):
    """The two conv layers (with ReLU and pooling) forward and backward on one batch."""
    tf = tfstart.tf
    graph = tf.Graph()
    with graph.as_default():
        x = tf.placeholder(tf.float32, [None, 784])
        image = tf.reshape(x, [-1, 28, 28, 1])
        w1 = tf.Variable(tf.truncated_normal([5, 5, 1, 32], stddev=0.1))
        w2 = tf.Variable(tf.truncated_normal([5, 5, 32, 64], stddev=0.1))
        h = tf.nn.max_pool(tf.nn.relu(tf.nn.conv2d(image, w1, [1, 1, 1, 1], 'SAME')),
                           [1, 2, 2, 1], [1, 2, 2, 1], 'SAME')
        h2 = tf.nn.max_pool(tf.nn.relu(tf.nn.conv2d(h, w2, [1, 1, 1, 1], 'SAME')),
                            [1, 2, 2, 1], [1, 2, 2, 1], 'SAME')
        g1, g2 = tf.gradients(tf.reduce_sum(h2), [w1, w2])
        # fetched, not grouped: a group of the gradients let the graph skip the work
        step = tf.reduce_sum(g1) + tf.reduce_sum(g2)
        init = tf.global_variables_initializer()
    sess = stack.enter_context(tfstart.new_session(
        graph, config=tfstart.session_config(precision)))
    sess.run(init)
    images = mnist.train.images[:batch_size]
    return (lambda: sess.run(step, {x: images})), batch_size * conv_layers_flops_per_image()


def train_case(precision, batch_size, mnist, stack):
    """One training step of the expert network on a fresh batch."""
    config = recipes.resolve('expert', batch_size=batch_size, precision=precision)
    model = deep_cnn.build_model(config)
    sess = stack.enter_context(tfstart.new_session(
        model.graph, config=tfstart.session_config(precision)))
    with model.graph.as_default():
        sess.run(tfstart.tf.global_variables_initializer())

    def run():
        batch = mnist.train.next_batch(batch_size)
        sess.run(model.train_step, {model.x: batch[0], model.y_: batch[1],
                                    model.net.keep_prob: 0.5})
    return run, batch_size * train_flops_per_image()


def main():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=cli.positive_int, default=3, help='(default 3)')
    parser.add_argument('--seconds', type=cli.positive_float, default=4.0,
                        help='timed seconds per case and round (default 4)')
    args = parser.parse_args()
    tfstart.import_tf()
    mnist = mnist_data.read_data_sets(common.DATA_DIR, one_hot=True, seed=1)
    load = common.warn_if_busy('bench_ceiling')
    cpu = machine.cpu_class()
    has_bf16 = recipes.computes_in('bf16') == 'bf16'
    fast = {p: recipes.resolve('fast', precision=p) for p in ('fp32', 'bf16')}
    expert = recipes.resolve('expert')
    print('CPU class: %s (%s), %d cores, load average %s' % (
        cpu, machine.cpu_model(), common.os.cpu_count(), load), flush=True)
    with contextlib.ExitStack() as stack:
        cases = {'matmul fp32': matmul_case('fp32', stack),
                 'matmul fp32 (numpy)': numpy_matmul_case()}
        cases['big conv fp32'] = big_conv_case('fp32', stack)
        if has_bf16:
            cases['matmul bf16'] = matmul_case('bf16', stack)
            cases['big conv bf16'] = big_conv_case('bf16', stack)
        cases['conv layers fp32, batch 256'] = conv_case('fp32', 256, mnist, stack)
        if has_bf16:
            cases['conv layers bf16, batch 128'] = conv_case('bf16', 128, mnist, stack)
        cases['expert step (fp32, batch 50)'] = train_case('fp32', 50, mnist, stack)
        b = fast['fp32'].batch_size
        cases['fast step fp32 (batch %d)' % b] = train_case('fp32', b, mnist, stack)
        if has_bf16:
            cases['fast step bf16 (batch 128)'] = train_case('bf16', 128, mnist, stack)
        flops = common.interleaved(cases, args.rounds,
                                   lambda name: timed(cases[name][0], args.seconds)
                                   * cases[name][1])
    gflops = {name: statistics.median(f) / 1e9 for name, f in flops.items()}
    # the better of TensorFlow's and numpy's product; under load either can fall below
    # the training step itself, which then says the ceiling was not measured
    ceiling = {'fp32': max(gflops['matmul fp32'], gflops['matmul fp32 (numpy)'],
                           gflops['big conv fp32']),
               'bf16': max(gflops.get('matmul bf16', 0), gflops.get('big conv bf16', 0)) or None}
    print('ceiling: fp32 %.1f GFLOP/s%s' % (ceiling['fp32'], ', bf16 %.1f GFLOP/s' % ceiling['bf16']
                                             if ceiling['bf16'] else ''))
    print('%-30s %8s %14s %14s' % ('case', 'GFLOP/s', 'of fp32 ceil.', 'of bf16 ceil.'))
    for name, g in gflops.items():
        print('%-30s %8.1f %13.0f%% %14s' % (
            name, g, 100 * g / ceiling['fp32'],
            '%.0f%%' % (100 * g / ceiling['bf16']) if ceiling['bf16'] else '-'))
    above = [n for n, g in gflops.items() if 'step' in n and
             g > (ceiling['bf16'] if 'bf16' in n else ceiling['fp32'])]
    if above:
        print('note: %s ran above its precision\'s ceiling: the ceiling cases did not reach '
              'the CPU\'s peak (busy cores?); take the fractions as upper bounds' % above[0])
    per_image = train_flops_per_image()
    rate = {name: g * 1e9 / per_image for name, g in gflops.items() if 'step' in name}
    expert_s = expert.steps * expert.batch_size / rate['expert step (fp32, batch 50)']
    print('\nTraining loop, from images/s (whole process: bench/bench_accuracy.py):')
    print('  expert: %d steps of %d at %.0f images/s: %.0f s' % (
        expert.steps, expert.batch_size, rate['expert step (fp32, batch 50)'], expert_s))
    ratios = {}
    for p in ('fp32', 'bf16'):
        name = [n for n in rate if n.startswith('fast step ' + p)]
        if not name:
            print('  fast in bf16: not measured (no native bfloat16 on this CPU)')
            continue
        c = fast[p] if p == 'bf16' else fast['fp32']
        if p == 'fp32' and not has_bf16:
            c = recipes.resolve('fast')
        seconds = c.steps * c.batch_size / rate[name[0]]
        ratios[p] = seconds / expert_s
        print('  fast in %s: %d steps of %d at %.0f images/s: %.0f s, %.3fx expert' % (
            p, c.steps, c.batch_size, rate[name[0]], seconds, ratios[p]))
    common.write_report('ceiling', load, cpu_class=cpu, gflops=gflops,
                        gflops_per_round={n: [x / 1e9 for x in f] for n, f in flops.items()},
                        train_flops_per_image=per_image, loop_ratio_fast_to_expert=ratios)
    return 0


if __name__ == '__main__':
    sys.exit(main())
