"""What the benches share, so that each holds its measurement alone: the start, a session
per variant, rounds interleaved against the machine's drift, the JSON report."""

import os
import platform
import sys
import time
from importlib.metadata import version

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, REPO_ROOT)  # the scripts run from anywhere; the product lives here

import deep_cnn  # noqa: E402
import mnist_data  # noqa: E402
from deep_mnist import cli, machine, rundir, tfstart  # noqa: E402

DATA_DIR = os.environ.get('MNIST_DATA_DIR') or os.path.join(REPO_ROOT, 'MNIST_data')
FLAGS = {'rounds': (cli.positive_int, 'rounds, each timing every variant in turn'),
         'steps': (cli.positive_int, 'timed steps per variant and round'),
         'repeat': (cli.positive_int, 'timed runs'),
         'seconds': (cli.positive_float, 'timed seconds per case and round')}


def main(name, doc, measure, flags=None, **defaults):
    """Parse FLAGS (those ``defaults`` name) and flags(parser)'s, verify MNIST, say the CPU
    class and load, report measure(args)'s dict; its 'exit' is the exit code."""
    parser = cli.ArgumentParser(description=doc.split('\n\n')[0])
    for flag, default in defaults.items():
        parser.add_argument('--' + flag, type=FLAGS[flag][0], default=default,
                            help='%s (default %s)' % (FLAGS[flag][1], default))
    if flags:
        flags(parser)
    args = parser.parse_args()
    mnist_data.maybe_download(DATA_DIR)   # no bench times a download
    load, cpu = warn_if_busy('bench_' + name), machine.cpu_class()
    print('CPU class: %s (%s), load average %s' % (cpu, machine.description(), load), flush=True)
    results = measure(args)
    write_report(name, load, cpu_class=cpu, **results)
    return results.get('exit', 0)


def mnist():
    return mnist_data.read_data_sets(DATA_DIR, one_hot=True, seed=1)


def session(config, stack, jit=False, intra=0, inter=0):
    """(config, model, session) of config's network, initialised, closed with ``stack``."""
    model = deep_cnn.build_model(config)
    options = tfstart.session_config(config.precision, jit, intra, inter)
    sess = stack.enter_context(tfstart.new_session(model.graph, config=options))
    with model.graph.as_default():
        sess.run(tfstart.tf.global_variables_initializer())
    return config, model, sess


def train_steps(data, config, model, sess, steps):
    for _ in range(steps):
        images, labels = data.train.next_batch(config.batch_size)
        sess.run(model.train_step, {model.x: images, model.y_: labels,
                                    model.net.keep_prob: config.keep_prob})


def interleaved(labels, rounds, measure):
    """{label: [measure(label), one per round]}: the labels in turn, their order reversed
    every other round, so that a drift in the machine's speed hits them all alike."""
    results = {label: [] for label in labels}
    for r in range(rounds):
        for label in list(labels)[::1 if r % 2 == 0 else -1]:
            results[label].append(measure(label))
    return results


def warn_if_busy(prog):
    """The load average now, after a warning on stderr if the cores are busy."""
    load = [round(v, 2) for v in os.getloadavg()]
    if load[0] > 0.5:   # a 1-minute load average above this: the cores are not idle
        print('%s: warning: load average %.2f: the cores are not idle, the timings will be '
              'noisy' % (prog, load[0]), file=sys.stderr)
    return load


def write_report(name, load_before, **results):
    """bench/results/NAME-<time>.json: the results with the machine they ran on."""
    stamp = time.strftime('%Y%m%d-%H%M%S')
    path = os.path.join(BENCH_DIR, 'results', '%s-%s.json' % (name, stamp))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rundir.write_json(path, dict(date=stamp, **results, machine={
        'description': machine.description(),
        'bf16_flags': sorted(set(machine.BF16_FLAGS) & (machine.cpu_flags() or set())),
        # versions read without importing: TensorFlow takes seconds to import
        'python': platform.python_version(), 'numpy': version('numpy'),
        'tensorflow': version('tensorflow'), 'loadavg_before': load_before,
        'loadavg_after': [round(v, 2) for v in os.getloadavg()]}))
    print('wrote %s' % path)
