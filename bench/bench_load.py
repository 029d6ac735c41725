"""The loader's time: verifying, parsing, and the whole read_data_sets(one_hot=True).

    .venv/bin/python bench/bench_load.py [--repeat 5]

Backs the SPEC's "well under a second" for all four files.
"""

import statistics
import sys
import timeit

import common
import mnist_data
from deep_mnist import cli


def main():
    parser = cli.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeat', type=cli.positive_int, default=5, help='(default 5)')
    args = parser.parse_args()
    paths = mnist_data.maybe_download(common.DATA_DIR)  # no stage below times a download
    load = common.warn_if_busy('bench_load')
    stages = {
        'verify (SHA-256)': lambda: [mnist_data.verify(p, n) for n, p in paths.items()],
        'parse': lambda: [(mnist_data.extract_images if 'images' in n else
                           mnist_data.extract_labels)(p) for n, p in paths.items()],
        'read_data_sets': lambda: mnist_data.read_data_sets(common.DATA_DIR, one_hot=True),
    }
    results = {}
    print('%-18s %8s %10s' % ('all four files', 'best ms', 'median ms'))
    for stage, func in stages.items():
        times = timeit.repeat(func, number=1, repeat=args.repeat)
        results[stage] = {'best_s': min(times), 'median_s': statistics.median(times)}
        print('%-18s %8.0f %10.0f' % (stage, 1e3 * min(times), 1e3 * statistics.median(times)))
    common.write_report('load', load, repeat=args.repeat, results=results)
    return 0


if __name__ == '__main__':
    sys.exit(main())
