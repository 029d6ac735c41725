"""Time the loader: verifying, parsing and the full read_data_sets(one_hot=True).

    python bench/bench_load.py [--data_dir DIR] [--repeat N] [--json PATH]

Prints best and median wall time per stage and writes them, with machine info, as JSON
(default bench/results/load.json).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:  # imported from elsewhere, not run as a script
    sys.path.insert(0, BENCH_DIR)

import common  # noqa: E402  (needs the path above; puts the repository root on it too)
import mnist_data  # noqa: E402


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
    common.add_data_dir(parser)
    parser.add_argument('--repeat', type=mnist_data.positive_int, default=5,
                        help='runs per stage (default 5)')
    common.add_json(parser, 'load.json')
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
        'machine': common.machine_info(cpu=False, numpy=np.__version__),
        'results': results,
    }
    common.write_report(args.json, report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
