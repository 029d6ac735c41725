"""What the bench scripts share: the repository on sys.path, machine info, the load
average warning and the JSON report in bench/results/."""

import os
import platform
import sys
import time
from importlib.metadata import version

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
sys.path.insert(0, REPO_ROOT)  # the scripts run from anywhere; the product lives here

from deep_mnist import rundir  # noqa: E402
from deep_mnist.machine import BF16_FLAGS, cpu_flags, cpu_model  # noqa: E402

DATA_DIR = os.environ.get('MNIST_DATA_DIR') or os.path.join(REPO_ROOT, 'MNIST_data')
BUSY_LOAD = 0.5  # a 1-minute load average above this means the cores are not idle


def interleaved(labels, rounds, measure):
    """{label: [measure(label), one per round]}: the labels in turn, their order reversed
    every other round, so that a drift in the machine's speed hits them all alike."""
    results = {label: [] for label in labels}
    for r in range(rounds):
        for label in list(labels)[::1 if r % 2 == 0 else -1]:
            results[label].append(measure(label))
    return results


def loadavg():
    return [round(v, 2) for v in os.getloadavg()]


def warn_if_busy(prog):
    """The load average now, after a warning on stderr if the cores are busy."""
    load = loadavg()
    if load[0] > BUSY_LOAD:
        print('%s: warning: load average %.2f: the cores are not idle, the timings will be '
              'noisy' % (prog, load[0]), file=sys.stderr)
    return load


def write_report(name, load_before, **results):
    """bench/results/NAME-<time>.json: the results with the machine they ran on."""
    machine = {'cpu': cpu_model(), 'cores': os.cpu_count(),
               'bf16_flags': sorted(set(BF16_FLAGS) & (cpu_flags() or set())),
               # versions read without importing: TensorFlow takes seconds to import
               'python': platform.python_version(), 'numpy': version('numpy'),
               'tensorflow': version('tensorflow'),
               'loadavg_before': load_before, 'loadavg_after': loadavg()}
    stamp = time.strftime('%Y%m%d-%H%M%S')
    path = os.path.join(BENCH_DIR, 'results', '%s-%s.json' % (name, stamp))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rundir.write_json(path, dict(date=stamp, machine=machine, **results))
    print('wrote %s' % path)
