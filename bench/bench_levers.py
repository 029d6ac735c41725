"""Each speed lever of `fast`, measured: images/s of the training step with the lever off
and on, side by side in one process, interleaved, on the CPU at hand.

    .venv/bin/python bench/bench_levers.py {batch,jit,threads,precision,all}
                                           [--steps 60] [--rounds 3]

  batch      batch 50 (the tutorial), 128 (fast, in both precisions), 256, 512
  jit        XLA's JIT through the session config (global_jit_level ON_1), off / on
  threads    TensorFlow's default threads / intra-op 2 inter-op 1 / 1 and 1
  precision  fp32 / bf16 mixed precision (bf16 only where the CPU has it natively)

The accuracy levers (epochs, peak rate, label smoothing) are measured on the validation
split by bench/bench_tune.py. Every variant is the expert network in its own session;
each round times every variant in turn (the order reversed every other round), and the
table shows the median over rounds with the ratio to the first variant. The first line
names the CPU class, which decides what carries over: bf16 / AVX-512 / AVX2 / ARM.
"""

import contextlib
import statistics
import sys
import time

import common
import deep_cnn
import mnist_data
from deep_mnist import cli, machine, recipes, tfstart

WARMUP = 10  # untimed steps per session: oneDNN (and XLA) compile in the first ones


def variants(lever):
    """[(label, dict(batch_size, precision, jit, intra, inter))] of one lever."""
    # the step fast runs where bf16 is not native: its fp32 schedule's batch, in fp32
    base = dict(batch_size=recipes.SCHEDULES['fast']['fp32']['batch_size'], precision='fp32',
                jit=False, intra=0, inter=0)
    if lever == 'batch':
        return [('batch %d' % b, dict(base, batch_size=b)) for b in (50, 128, 256, 512)]
    if lever == 'jit':
        return [('XLA off', base), ('XLA on', dict(base, jit=True))]
    if lever == 'threads':
        return [('default threads', base), ('intra 2, inter 1', dict(base, intra=2, inter=1)),
                ('intra 1, inter 1', dict(base, intra=1, inter=1))]
    return [('%s, batch %d' % (p, b), dict(base, precision=p, batch_size=b))
            for b in (128, 256) for p in ('fp32', 'bf16')]


def open_variant(v, stack):
    """(config, model, session) of one variant, warmed up; None for bf16 without it."""
    if v['precision'] == 'bf16' and recipes.computes_in('bf16') != 'bf16':
        return None
    config = recipes.resolve('expert', batch_size=v['batch_size'], precision=v['precision'])
    model = deep_cnn.build_model(config)
    options = tfstart.session_config(v['precision'], v['jit'], v['intra'], v['inter'])
    sess = stack.enter_context(tfstart.new_session(model.graph, config=options))
    with model.graph.as_default():
        sess.run(tfstart.tf.global_variables_initializer())
    return config, model, sess


def train_steps(mnist, config, model, sess, steps):
    for _ in range(steps):
        batch = mnist.train.next_batch(config.batch_size)
        sess.run(model.train_step, feed_dict={model.x: batch[0], model.y_: batch[1],
                                              model.net.keep_prob: config.keep_prob})


def measure(mnist, chosen, steps, rounds):
    """{label: [images/s per round]}, the variants interleaved round by round."""
    with contextlib.ExitStack() as stack:
        opened = {}
        for label, v in chosen:
            got = open_variant(v, stack)
            if got is None:
                print('%s: not measured, this CPU has no native bfloat16' % label)
                continue
            train_steps(mnist, *got, WARMUP)
            opened[label] = got

        def rate(label):
            config, model, sess = opened[label]
            t0 = time.perf_counter()
            train_steps(mnist, config, model, sess, steps)
            return steps * config.batch_size / (time.perf_counter() - t0)
        return common.interleaved(opened, rounds, rate)


def main():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('lever', choices=('batch', 'jit', 'threads', 'precision', 'all'))
    parser.add_argument('--steps', type=cli.positive_int, default=60,
                        help='timed steps per variant and round (default 60)')
    parser.add_argument('--rounds', type=cli.positive_int, default=3, help='(default 3)')
    args = parser.parse_args()
    tfstart.import_tf()
    mnist = mnist_data.read_data_sets(common.DATA_DIR, one_hot=True, seed=1)
    load = common.warn_if_busy('bench_levers')
    cpu = machine.cpu_class()
    print('CPU class: %s (%s), load average %s' % (cpu, machine.cpu_model(), load), flush=True)
    report = {}
    for lever in (('batch', 'jit', 'threads', 'precision') if args.lever == 'all'
                  else (args.lever,)):
        rates = measure(mnist, variants(lever), args.steps, args.rounds)
        if not rates:
            continue
        first = statistics.median(next(iter(rates.values())))
        print('%-20s %9s %8s   (%s; per round: images/s)' % (lever, 'images/s', 'ratio', cpu))
        for label, r in rates.items():
            m = statistics.median(r)
            print('%-20s %9.0f %7.2fx   %s' % (label, m, m / first,
                                               ' '.join('%.0f' % x for x in r)), flush=True)
        report[lever] = {label: r for label, r in rates.items()}
    common.write_report('levers', load, cpu_class=cpu, steps=args.steps, rounds=args.rounds,
                        images_per_s=report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
