"""What the benchmark scripts share: machine info, load average, flags, workers, the JSON report.

Importing it also puts the repository root on ``sys.path``, so the scripts can import
``mnist_data`` and ``deep_cnn`` however they are run.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
# Run as a plain script from anywhere: the modules live at the repository root.
sys.path.insert(0, REPO_ROOT)

# Above this 1-minute load average the cores are not idle: timings will be disturbed.
BUSY_LOAD = 0.5


def cpu_model():
    """The CPU model name from /proc/cpuinfo, else platform.processor()."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def loadavg():
    """The 1/5/15-minute load averages rounded to 2 places, or None where unavailable."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def loadavg_warn(prog):
    """The load average now, after a warning on stderr if the cores are not idle."""
    load = loadavg()
    if load and load[0] > BUSY_LOAD:
        print('%s: warning: load average %.2f before starting: the cores are '
              'not idle, timings will be disturbed' % (prog, load[0]), file=sys.stderr)
    return load


def machine_info(cpu=True, **extra):
    """Platform, CPU model (unless cpu=False) and count, Python version, then ``extra`` in order."""
    info = {'platform': platform.platform(), 'machine': platform.machine()}
    if cpu:
        info['cpu_model'] = cpu_model()
    info['cpu_count'] = os.cpu_count()
    info['python'] = platform.python_version()
    info.update(extra)
    return info


def add_data_dir(parser):
    """Add --data_dir (default $MNIST_DATA_DIR or <repo>/MNIST_data) to ``parser``."""
    parser.add_argument('--data_dir', default=os.environ.get('MNIST_DATA_DIR')
                        or os.path.join(REPO_ROOT, 'MNIST_data'),
                        help='MNIST directory (default: $MNIST_DATA_DIR or <repo>/MNIST_data)')


def add_json(parser, name):
    """Add --json (default bench/results/NAME) to ``parser``."""
    parser.add_argument('--json', default=os.path.join(BENCH_DIR, 'results', name),
                        help='where to write the results (default bench/results/%s)' % name)


def choice_list(choices):
    """An argparse type: a non-empty comma-separated list of names from ``choices``."""
    def parse(text):
        names = [n for n in text.split(',') if n]
        if not names or any(n not in choices for n in names):
            raise argparse.ArgumentTypeError('%r: a comma-separated list of %s'
                                             % (text, ', '.join(choices)))
        return names
    return parse


def run_worker(script, argv, what, env=None):
    """Run ``script argv --worker_out TMP`` in a fresh interpreter; the JSON it wrote to TMP."""
    prefix = os.path.splitext(os.path.basename(script))[0] + '_'
    fd, out_path = tempfile.mkstemp(prefix=prefix, suffix='.json')
    os.close(fd)
    try:
        proc = subprocess.run([sys.executable, os.path.abspath(script)] + list(argv)
                              + ['--worker_out', out_path],
                              env=env, cwd=REPO_ROOT, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stdout + proc.stderr)
            raise SystemExit('error: %s failed (exit %d)' % (what, proc.returncode))
        with open(out_path) as f:
            return json.load(f)
    finally:
        os.remove(out_path)


def write_report(path, report):
    """Write ``report`` to ``path`` as indented JSON (making its directory) and say so."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(report, f, indent=2)
        f.write('\n')
    print('wrote %s' % path)
