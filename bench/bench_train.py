"""Training speed: images/s per precision and batch size, and the cost of deep_cnn's extras.

    python bench/bench_train.py [--batch_sizes 50,128] [--steps 200] [--rounds 3]
                                [--loop_steps 1000]

One process, interleaved: each round times every variant in turn (reversed every other
round), so a drift in the machine's speed hits them alike; tables show medians over
rounds. bf16 only where the CPU has it natively (tfstart.session_config). The loop row
is deep_cnn.main (checkpoints, summaries, progress, run.json) in a temporary directory
against the tutorial's loop on a fresh session, both ending with a test pass.
"""

import contextlib
import io
import os
import statistics
import sys
import tempfile
import time

import common
import deep_cnn
import mnist_data
from deep_mnist import cli, machine, record, tfstart

WARMUP = 20  # untimed steps per session: oneDNN builds its kernels in the first ones


def bare_loop(sess, model, mnist, config, steps):
    """The tutorial's loop: a batch, its accuracy every 100 steps, a training step."""
    for i in range(steps):
        batch = mnist.train.next_batch(config.batch_size)
        if i % 100 == 0:
            sess.run(model.accuracy, feed_dict={model.x: batch[0], model.y_: batch[1]})
        sess.run(model.train_step, feed_dict={model.x: batch[0], model.y_: batch[1],
                                              model.net.keep_prob: config.keep_prob})


def open_session(config, stack):
    """(model, initialised session) for config, or None for bf16 on a CPU without it."""
    model = deep_cnn.build_model(config)
    options = tfstart.session_config(config.precision)
    if config.precision == 'bf16' and options is None:
        return None
    sess = stack.enter_context(tfstart.new_session(model.graph, config=options))
    with model.graph.as_default():
        sess.run(tfstart.tf.global_variables_initializer())
    return model, sess


def throughput(mnist, batch_sizes, steps, rounds):
    """{(precision, batch size): median images/s}, measured round by round."""
    with contextlib.ExitStack() as stack:
        variants = {}
        for batch_size, precision in [(b, p) for b in batch_sizes for p in ('fp32', 'bf16')]:
            config = deep_cnn.resolve('expert', batch_size=batch_size, precision=precision)
            opened = open_session(config, stack)
            if opened:
                variants[precision, batch_size] = (config,) + opened
                bare_loop(opened[1], opened[0], mnist, config, WARMUP)

        def rate(key):
            config, model, sess = variants[key]
            t0 = time.perf_counter()
            bare_loop(sess, model, mnist, config, steps)
            return steps * config.batch_size / (time.perf_counter() - t0)
        rates = common.interleaved(variants, rounds, rate)
    return {key: statistics.median(r) for key, r in rates.items()}


def bare_run(mnist, steps):
    """Seconds for the tutorial's run on a fresh session: the loop, then the test set."""
    config = deep_cnn.resolve('expert')
    with contextlib.ExitStack() as stack:
        model, sess = open_session(config, stack)
        t0 = time.perf_counter()
        bare_loop(sess, model, mnist, config, steps)
        deep_cnn.evaluate(sess, model, mnist.test.images, mnist.test.labels)
        return time.perf_counter() - t0


def product_run(steps):
    """run.json's wall_time_s of `deep_cnn.py --steps N` in a temporary directory: the
    loop with its extras, the final save and the final test pass."""
    with tempfile.TemporaryDirectory(prefix='bench_train_') as tmp:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = deep_cnn.main(['--steps', str(steps), '--data_dir', common.DATA_DIR,
                                '--checkpoint_dir', os.path.join(tmp, 'ckpt'),
                                '--log_dir', os.path.join(tmp, 'logs')])
        if rc:
            sys.exit('error: deep_cnn.main failed (exit %d):\n%s' % (rc, err.getvalue()))
        return record.read_run_json(os.path.join(tmp, 'ckpt'))['wall_time_s']


def main():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--batch_sizes', default='50,128', help='(default 50,128)',
                        type=lambda s: [cli.positive_int(b) for b in s.split(',')])
    parser.add_argument('--steps', type=cli.positive_int, default=200,
                        help='timed steps per variant and round (default 200)')
    parser.add_argument('--rounds', type=cli.positive_int, default=3, help='(default 3)')
    parser.add_argument('--loop_steps', type=cli.nonnegative_int, default=1000,
                        help='steps of the deep_cnn vs bare loop runs, 0 to skip (default 1000)')
    args = parser.parse_args()
    tfstart.import_tf()
    mnist = mnist_data.read_data_sets(common.DATA_DIR, one_hot=True, seed=1)
    load = common.warn_if_busy('bench_train')
    rates = throughput(mnist, args.batch_sizes, args.steps, args.rounds)
    print('%-9s %5s %9s %8s' % ('precision', 'batch', 'images/s', 'vs fp32'))
    for (precision, batch_size), rate in rates.items():
        print('%-9s %5d %9.0f %7.2fx' % (precision, batch_size, rate,
                                          rate / rates['fp32', batch_size]))
    if not machine.cpu_has_native_bf16():
        print('bf16: not measured, this CPU has no native bfloat16 (avx512_bf16, amx_bf16)')
    report = {'steps': args.steps, 'rounds': args.rounds,
              'images_per_s': {'%s b%d' % key: rate for key, rate in rates.items()}}
    if args.loop_steps:
        times = [(product_run(args.loop_steps), bare_run(mnist, args.loop_steps))
                 for _ in range(args.rounds)]
        ratio = statistics.median(p / b for p, b in times)  # within a round: drift cancels
        print('deep_cnn.main vs the bare loop, %d steps: %.1f s vs %.1f s, %.3fx the time' % (
            args.loop_steps, *(statistics.median(t) for t in zip(*times)), ratio))
        report['loop'] = {'steps': args.loop_steps, 'deep_cnn_and_bare_s': times, 'ratio': ratio}
    common.write_report('train', load, **report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
