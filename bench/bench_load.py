"""The loader's time: verifying and parsing the four files, and a whole
read_data_sets(one_hot=True); backs the SPEC's "well under a second"."""

import statistics
import sys
import timeit

import common
import mnist_data


def measure(args):
    paths = mnist_data.maybe_download(common.DATA_DIR)
    stages = {'verify and parse': lambda: [mnist_data.verify(p, n) for n, p in paths.items()],
              'read_data_sets': lambda: mnist_data.read_data_sets(common.DATA_DIR, one_hot=True)}
    results = {}
    print('%-18s %8s %10s' % ('all four files', 'best ms', 'median ms'))
    for stage, func in stages.items():
        times = timeit.repeat(func, number=1, repeat=args.repeat)
        results[stage] = {'best_s': min(times), 'median_s': statistics.median(times)}
        print('%-18s %8.0f %10.0f' % (stage, 1e3 * min(times), 1e3 * statistics.median(times)))
    return {'repeat': args.repeat, 'results': results}


if __name__ == '__main__':
    sys.exit(common.main('load', __doc__, measure, repeat=5))
