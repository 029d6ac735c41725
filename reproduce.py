"""Rerun each recipe of "Deep MNIST for Experts" for seeds 1..N as a user runs it, into
reproduction.json, REPRODUCTION.md and reproduction.png (docs/reproduction.md); a rerun skips
what is recorded. --quick runs every code path, no claim checked: CNN recipes 20 steps,
softmax 50, two runs at a time."""

import os
import sys

import deep_cnn
import mnist_data
from deep_mnist import cli, report, reproduction, rundir, signals


def parse_args(argv):
    p = cli.ArgumentParser(description=__doc__, epilog='Recipes, in step order: %s. Groups: '
                           'softmax, cnn, all.' % ', '.join(reproduction.NAMES))
    p.add_argument('--out', default='reproduction',
                   help='report directory; runs go to OUT/runs/ (default: reproduction)')
    p.add_argument('--seeds', type=cli.positive_int,
                   help='run seeds 1..N of each recipe (default: 3; 1 with --quick)')
    p.add_argument('--recipes', type=reproduction.recipe_list, default='all',
                   help='SCRIPT/RECIPE names or groups, comma-separated (default: all)')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: %s, two runs at a time; claims are not checked'
                        % reproduction.QUICK_SUMMARY)
    which = p.add_mutually_exclusive_group()
    which.add_argument('--report_only', action='store_true',
                       help='run nothing: write the report from the runs recorded so far')
    which.add_argument('--rerun', action='store_true', help='run again what is recorded (to '
                       'time it on a quiet machine); a new record replaces one if it ends well')
    p.add_argument('--data_dir', default=mnist_data.default_data_dir(),
                   help='MNIST files (default: $MNIST_DATA_DIR or MNIST_data)')
    args = p.parse_args(argv)
    args.seeds = args.seeds or (1 if args.quick else 3)
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    return cli.reported('reproduce', lambda: report_runs(args, argv),
                        (mnist_data.MNISTDataError, OSError))


def report_runs(args, argv):
    out_dir = os.path.abspath(args.out)
    mnist_data.maybe_download(os.path.abspath(args.data_dir))  # once, not in every child
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, 'reproduction.json')
    records = reproduction.load_records(json_path)
    plan = [reproduction.Run(name, seed, args.quick) for name in args.recipes
            for seed in range(1, args.seeds + 1)]
    stopped = 0 if args.report_only else reproduction.Runner(reproduction.runs_to_do(
        plan, records, rerun=args.rerun), args, records, json_path, deep_cnn.deepnn).run()
    # Even when nothing ran: the three files always exist.
    rundir.write_json(json_path, {'runs': records})
    results = reproduction.results_by_recipe(plan, records)
    report.write_markdown(os.path.join(out_dir, 'REPRODUCTION.md'), args, argv, results)
    report.write_png(os.path.join(out_dir, 'reproduction.png'), results, args.quick)
    reproduction.say('wrote %s (REPRODUCTION.md, reproduction.png, reproduction.json)' % out_dir)
    complete = all(len(rows) == args.seeds for rows, _ in results.values())
    return stopped or (0 if complete or args.report_only else 1)


if __name__ == '__main__':
    sys.exit(signals.quiet_if_stdout_closes(main))
