"""Time the loader: verifying, parsing and the full read_data_sets(one_hot=True).

    python bench/bench_load.py [--data_dir DIR] [--repeat N] [--json PATH]

Prints best and median wall time per stage and writes them, with machine info, as JSON
(default bench/results/load.json).
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.dirname(BENCH_DIR)
# Run as a plain script from anywhere: the loader lives at the repository root.
sys.path.insert(0, REPO_ROOT)

import mnist_data  # noqa: E402  (needs the path above)


def timed(func, repeat):
    """Wall times in seconds of ``repeat`` calls of ``func``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--data_dir', default=os.environ.get('MNIST_DATA_DIR')
                        or os.path.join(REPO_ROOT, 'MNIST_data'),
                        help='MNIST directory (default: $MNIST_DATA_DIR or <repo>/MNIST_data)')
    parser.add_argument('--repeat', type=mnist_data.positive_int, default=5,
                        help='runs per stage (default 5)')
    parser.add_argument('--json', default=os.path.join(BENCH_DIR, 'results', 'load.json'),
                        help='where to write the results (default bench/results/load.json)')
    args = parser.parse_args()

    # Fetch once up front so no stage below times a download.
    paths = mnist_data.maybe_download(args.data_dir)

    def verify_all():
        for name, path in paths.items():
            mnist_data.verify(path, name)

    def parse_all():
        for name, path in paths.items():
            if 'images' in name:
                mnist_data.extract_images(path)
            else:
                mnist_data.extract_labels(path)

    stages = {
        'verify (4 files, SHA-256)': verify_all,
        'parse (4 files)': parse_all,
        'read_data_sets(one_hot=True)': lambda: mnist_data.read_data_sets(
            args.data_dir, one_hot=True),
    }
    results = {}
    print('%-30s %10s %10s' % ('stage', 'best ms', 'median ms'))
    for stage, func in stages.items():
        times = timed(func, args.repeat)
        results[stage] = {'best_s': min(times), 'median_s': statistics.median(times),
                          'runs_s': times}
        print('%-30s %10.1f %10.1f' % (stage, 1e3 * min(times), 1e3 * statistics.median(times)))

    report = {
        'benchmark': 'mnist_data load',
        'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'repeat': args.repeat,
        'data_dir': os.path.abspath(args.data_dir),
        'files': {name: os.path.basename(path) for name, path in paths.items()},
        'machine': {
            'platform': platform.platform(),
            'machine': platform.machine(),
            'cpu_count': os.cpu_count(),
            'python': platform.python_version(),
            'numpy': np.__version__,
        },
        'results': results,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, 'w') as f:
        json.dump(report, f, indent=2)
        f.write('\n')
    print('wrote %s' % args.json)
    return 0


if __name__ == '__main__':
    sys.exit(main())
