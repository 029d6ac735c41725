"""Where the training time goes: the tutorial's bare loop vs deep_cnn.train, session settings, batch sizes.

    python bench/bench_train.py [--steps N] [--warmup W] [--configs default,threads21,xla]
                                [--batch_sizes 50,100,200] [--deep_cnn unseeded,seeded]
                                [--repeat R] [--data_dir DIR] [--json PATH]

Measurements (each in its own subprocess, so thread pools, XLA and op determinism,
which TensorFlow sets once per process, never leak from one into the next):

* bare/<config>: the tutorial's loop (seed 003) on ``build_model(RECIPES['expert'],
  1e-4, N)``: ``batch = mnist.train.next_batch(50)``, every 100 steps the training
  accuracy on that batch with keep_prob 1.0, then ``train_step`` with keep_prob 0.5.
  Nothing else. W warm-up steps (default 20, each with the accuracy too, so XLA has
  compiled both fetches) are run first, untimed; then N steps (default 2000) are timed. ``<config>`` is a session setting from ``CONFIGS``
  (a ConfigProto mutation, so deep_cnn can adopt a winner); ``a+b`` combines two.
* bare/default at other batch sizes (``--batch_sizes``): the same loop for as many
  examples as N steps of 50 (N*50/B steps), reported as examples/s.
* deep_cnn: ``deep_cnn.train(args, mnist)`` for N steps with the expert recipe's
  extras on (checkpoints every 2000 steps, summaries every 100 steps with a
  1000-image test pass, progress, NaN check, run.json), into a temporary directory.
  Its loop time is run.json's ``wall_time_s`` (no warm-up: the product has none);
  the overhead is that over the bare default loop's N steps. ``seeded`` passes
  ``--seed 1``, which also turns on TensorFlow op determinism (as bench_accuracy.py's
  runs do).

Takes about (number of measurements) x (N / steps-per-s + ~10 s start-up); with the
defaults, 6 measurements of 2000 steps (bare default, threads21, threads12, xla;
deep_cnn unseeded, seeded): ~10-20 min on 2 CPU cores, plus ~2-4 min for each extra
batch size. Needs a quiet
machine: anything else running on the cores shows up in the numbers (the load
average before and after is recorded). Prints a table and writes JSON with machine
info (default bench/results/train.json).
"""

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
if BENCH_DIR not in sys.path:  # imported from elsewhere, not run as a script
    sys.path.insert(0, BENCH_DIR)

import common  # noqa: E402  (needs the path above; puts the repository root on it too)
import mnist_data  # noqa: E402  (deep_cnn is imported by the workers)

TUTORIAL_BATCH = 50
EVAL_EVERY = 100     # the tutorial's "if i % 100 == 0: ... training accuracy"
KEEP_PROB = 0.5
DATA_SEED = 1


# --- session settings ---------------------------------------------------------------
# name -> function(ConfigProto) that mutates it; everything keeps the math the same.

def _tf():
    import deep_cnn
    return deep_cnn.import_tf()


def _default(config):
    """TensorFlow's defaults: intra- and inter-op pools sized to the cores."""


def _threads(intra, inter):
    def apply(config):
        config.intra_op_parallelism_threads = intra
        config.inter_op_parallelism_threads = inter
    apply.__doc__ = 'intra_op_parallelism_threads=%d, inter_op_parallelism_threads=%d' % (
        intra, inter)
    return apply


def _xla(config):
    """XLA JIT: global_jit_level ON_1 (on CPU only with TF_XLA_FLAGS=--tf_xla_cpu_global_jit,
    which CONFIG_ENV sets; without it TensorFlow forms no cluster on CPU)."""
    config.graph_options.optimizer_options.global_jit_level = _tf().OptimizerOptions.ON_1


def _onednn_off(config):
    """TF_ENABLE_ONEDNN_OPTS=0 (CONFIG_ENV): Eigen kernels instead of oneDNN's."""


CONFIGS = {
    'default': _default,
    'threads21': _threads(2, 1),
    'threads12': _threads(1, 2),
    'threads11': _threads(1, 1),
    'xla': _xla,
    'onednn_off': _onednn_off,
}
# What a setting also needs in the environment before TensorFlow is imported.
CONFIG_ENV = {
    'xla': {'TF_XLA_FLAGS': '--tf_xla_cpu_global_jit'},
    'onednn_off': {'TF_ENABLE_ONEDNN_OPTS': '0'},
}
DEFAULT_CONFIGS = 'default,threads21,threads12,xla'


def config_parts(name):
    """'xla+threads21' -> ['xla', 'threads21'], each a CONFIGS key."""
    parts = name.split('+')
    for part in parts:
        if part not in CONFIGS:
            raise argparse.ArgumentTypeError('unknown config %r (choose from %s; a+b combines)'
                                             % (part, ', '.join(CONFIGS)))
    return parts


def make_config(name):
    """The ConfigProto for a CONFIGS name (or 'a+b')."""
    config = _tf().ConfigProto()
    for part in config_parts(name):
        CONFIGS[part](config)
    return config


def config_env(name):
    env = {}
    for part in config_parts(name):
        for key, value in CONFIG_ENV.get(part, {}).items():
            env[key] = (env[key] + ' ' + value) if key in env else value
    return env


# --- the workers (run in a subprocess each) -----------------------------------------

def bare_loop(sess, model, mnist, steps, batch_size, eval_every=EVAL_EVERY):
    """The tutorial's loop, exactly: a batch, every 100 steps its training accuracy,
    a training step."""
    x, y_, keep_prob = model.x, model.y_, model.net.keep_prob
    for i in range(steps):
        batch = mnist.train.next_batch(batch_size)
        if i % eval_every == 0:
            sess.run(model.accuracy, feed_dict={x: batch[0], y_: batch[1], keep_prob: 1.0})
        sess.run(model.train_step,
                 feed_dict={x: batch[0], y_: batch[1], keep_prob: KEEP_PROB})


def xla_clusters(sess, model, mnist, batch_size):
    """XLA clusters run in one traced training step (untimed): 0 means no XLA."""
    tf = _tf()
    batch = mnist.train.next_batch(batch_size)
    meta = tf.RunMetadata()
    sess.run(model.train_step,
             feed_dict={model.x: batch[0], model.y_: batch[1], model.net.keep_prob: KEEP_PROB},
             options=tf.RunOptions(trace_level=tf.RunOptions.FULL_TRACE), run_metadata=meta)
    return sum(1 for dev in meta.step_stats.dev_stats for node in dev.node_stats
               if node.node_name.endswith('/xla_run'))


def work_bare(job):
    import deep_cnn
    tf = deep_cnn.import_tf()
    mnist = mnist_data.read_data_sets(job['data_dir'], one_hot=True, seed=DATA_SEED)
    t_build = time.perf_counter()
    model = deep_cnn.build_model(deep_cnn.RECIPES['expert'], 1e-4, job['steps'], seed=1)
    with tf.Session(graph=model.graph, config=make_config(job['config'])) as sess:
        sess.run(tf.global_variables_initializer())
        build_s = time.perf_counter() - t_build
        t0 = time.perf_counter()
        # The warm-up evaluates at every step: XLA compiles a cluster only once it has
        # run a few times, and the accuracy cluster must not compile in the timed part.
        bare_loop(sess, model, mnist, job['warmup'], job['batch_size'], eval_every=1)
        warmup_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        bare_loop(sess, model, mnist, job['steps'], job['batch_size'])
        wall = time.perf_counter() - t0
        clusters = xla_clusters(sess, model, mnist, job['batch_size'])
    return {'wall_s': wall, 'warmup_s': warmup_s, 'build_s': build_s,
            'xla_clusters': clusters, 'tensorflow': tf.__version__}


def work_deep_cnn(job):
    import deep_cnn
    tmp = tempfile.mkdtemp(prefix='bench_train_')
    try:
        argv = ['--recipe', 'expert', '--data_dir', job['data_dir'],
                '--steps', str(job['steps']), '--fresh',
                '--checkpoint_dir', os.path.join(tmp, 'ckpt'),
                '--log_dir', os.path.join(tmp, 'logs')]
        if job['seeded']:
            argv += ['--seed', '1']
        args = deep_cnn.parse_args(argv)
        deep_cnn.clear_run(args)  # main()'s --fresh; the directory is new anyway
        mnist = mnist_data.read_data_sets(args.data_dir, one_hot=True,
                                          seed=args.seed if args.seed is not None else DATA_SEED)
        tf = deep_cnn.import_tf()
        out = io.StringIO()  # the tutorial's step lines; progress goes to stderr
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(out):
            rc = deep_cnn.train(args, mnist)
        call_s = time.perf_counter() - t0
        run = deep_cnn.read_run_json(args.checkpoint_dir)
        if rc != 0 or run.get('status') != 'finished':
            raise RuntimeError('deep_cnn.train returned %s (status %s)' % (rc, run.get('status')))
        saves = len([f for f in os.listdir(args.checkpoint_dir) if f.endswith('.index')])
        return {'wall_s': run['wall_time_s'], 'call_s': call_s,
                'run_steps_per_s': run['steps_per_s'], 'steps_run': run['steps_this_run'],
                'checkpoints_kept': saves, 'checkpoint_every': args.checkpoint_every,
                'summary_every': args.summary_every, 'log_every': args.log_every,
                'tensorflow': tf.__version__}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def worker(job_json, out_path):
    job = json.loads(job_json)
    result = (work_bare if job['loop'] == 'bare' else work_deep_cnn)(job)
    with open(out_path, 'w') as f:
        json.dump(result, f)
    return 0


# --- the driver -----------------------------------------------------------------------

def run_job(job):
    """Run one measurement in a fresh interpreter; its result dict."""
    env = dict(os.environ)
    for key, value in job['env'].items():
        env[key] = (env[key] + ' ' + value) if key == 'TF_XLA_FLAGS' and env.get(key) else value
    t0 = time.perf_counter()
    result = common.run_worker(__file__, ['--worker', json.dumps(job)], job['name'], env=env)
    result['process_s'] = time.perf_counter() - t0
    return result


# Environment variables that change TensorFlow's speed, recorded with the results.
ENV_PREFIXES = ('TF_CPP_', 'TF_XLA_', 'TF_ENABLE_', 'TF_DETERMINISTIC', 'TF_NUM_', 'OMP_',
                'MKL', 'KMP_', 'ONEDNN_', 'DNNL_', 'MNIST_DATA_DIR')


def machine_info(**extra):
    """common.machine_info with numpy, the speed-relevant environment and usable CPUs."""
    import numpy as np
    info = common.machine_info(
        numpy=np.__version__,
        env={k: v for k, v in os.environ.items() if k.startswith(ENV_PREFIXES)})
    if hasattr(os, 'sched_getaffinity'):
        info['cpus_usable'] = len(os.sched_getaffinity(0))
    info.update(extra)
    return info


def csv_list(convert):
    def parse(text):
        items = [convert(t) for t in text.split(',') if t]
        if not items:
            raise argparse.ArgumentTypeError('empty list')
        return items
    return parse


def checked_config(name):
    config_parts(name)
    return name


def deep_cnn_variant(name):
    if name not in ('unseeded', 'seeded'):
        raise argparse.ArgumentTypeError('%r: choose unseeded or seeded' % name)
    return name


def main():
    parser = mnist_data.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--steps', type=mnist_data.positive_int, default=2000,
                        help='timed steps per measurement (default 2000: includes a '
                             'checkpoint save in the deep_cnn loop)')
    parser.add_argument('--warmup', type=mnist_data.nonnegative_int, default=20,
                        help='untimed steps before the bare loops (default 20)')
    parser.add_argument('--configs', type=csv_list(checked_config), default=DEFAULT_CONFIGS,
                        help='session settings for the bare loop, of %s; a+b combines '
                             '(default %s)' % (', '.join(CONFIGS), DEFAULT_CONFIGS))
    parser.add_argument('--batch_sizes', type=csv_list(mnist_data.positive_int), default='50',
                        help='batch sizes for the bare loop under the default config, each '
                             'for steps*50 examples (default 50)')
    parser.add_argument('--deep_cnn', type=csv_list(deep_cnn_variant), default='unseeded,seeded',
                        help="deep_cnn.train runs: unseeded (the product's default), seeded "
                             "(--seed 1: op determinism on) (default unseeded,seeded)")
    parser.add_argument('--no_deep_cnn', action='store_true', help='bare loops only')
    parser.add_argument('--repeat', type=mnist_data.positive_int, default=1,
                        help='rounds of all measurements, interleaved (default 1)')
    common.add_data_dir(parser)
    common.add_json(parser, 'train.json')
    parser.add_argument('--worker', help=argparse.SUPPRESS)
    parser.add_argument('--worker_out', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.worker_out)
    args.data_dir = os.path.abspath(args.data_dir)
    mnist_data.maybe_download(args.data_dir)  # no measurement times a download

    # The measurement list: bare default first, so the deep_cnn overhead has its base.
    base = {'steps': args.steps, 'warmup': args.warmup, 'data_dir': args.data_dir}
    jobs = []

    def bare(config, batch_size):
        steps = args.steps if batch_size == TUTORIAL_BATCH else max(
            1, round(args.steps * TUTORIAL_BATCH / batch_size))
        name = 'bare %s b%d' % (config, batch_size)
        if not any(j['name'] == name for j in jobs):
            jobs.append(dict(base, name=name, loop='bare', config=config,
                             batch_size=batch_size, steps=steps, env=config_env(config)))

    bare('default', TUTORIAL_BATCH)
    if not args.no_deep_cnn:
        for variant in args.deep_cnn:
            jobs.append(dict(base, name='deep_cnn %s' % variant, loop='deep_cnn',
                             config='default', batch_size=TUTORIAL_BATCH,
                             seeded=variant == 'seeded', env={}))
    for config in args.configs:
        bare(config, TUTORIAL_BATCH)
    for batch_size in args.batch_sizes:
        bare('default', batch_size)

    load_before = common.loadavg_warn('bench_train')
    runs = {job['name']: [] for job in jobs}
    total = len(jobs) * args.repeat
    n = 0
    tensorflow = None
    for _ in range(args.repeat):
        for job in jobs:
            n += 1
            print('[%d/%d] %s: %d steps ...' % (n, total, job['name'], job['steps']),
                  end='', file=sys.stderr, flush=True)
            result = run_job(job)
            tensorflow = result.pop('tensorflow')
            result['steps_per_s'] = job['steps'] / result['wall_s']
            runs[job['name']].append(result)
            print(' %.1f steps/s (%.0f s)' % (result['steps_per_s'], result['process_s']),
                  file=sys.stderr, flush=True)
    load_after = common.loadavg()

    results = []
    for job in jobs:
        rs = runs[job['name']]
        walls = [r['wall_s'] for r in rs]
        best = min(walls)
        entry = {k: job[k] for k in ('name', 'loop', 'config', 'batch_size', 'steps')}
        if job['loop'] == 'deep_cnn':
            entry['seeded'] = job['seeded']
        entry.update({
            'examples': job['steps'] * job['batch_size'],
            'best_wall_s': best,
            'median_wall_s': statistics.median(walls),
            'best_steps_per_s': job['steps'] / best,
            'best_examples_per_s': job['steps'] * job['batch_size'] / best,
            'runs': rs,
        })
        results.append(entry)
    by_name = {r['name']: r for r in results}
    bare_default = by_name['bare default b%d' % TUTORIAL_BATCH]
    for r in results:
        # Same steps and batch as bare default b50 for the configs and deep_cnn; for other
        # batch sizes the same number of examples, so the ratio is time per example.
        r['wall_vs_bare_default'] = r['best_wall_s'] / bare_default['best_wall_s']

    print()
    print('%-22s %6s %6s %9s %9s %11s %8s %5s' % (
        'measurement', 'batch', 'steps', 'wall s', 'steps/s', 'examples/s', 'vs bare', 'xla'))
    for r in results:
        xla = r['runs'][0].get('xla_clusters')
        print('%-22s %6d %6d %9.1f %9.2f %11.0f %7.2fx %5s' % (
            r['name'], r['batch_size'], r['steps'], r['best_wall_s'], r['best_steps_per_s'],
            r['best_examples_per_s'], r['wall_vs_bare_default'], '-' if xla is None else xla))
    for r in results:
        if r['loop'] == 'deep_cnn':
            print('overhead %s: %.2fx the bare loop for the same %d steps (%.1f s more; '
                  'whole train() call incl. graph, final save and test pass: %.1f s)' % (
                      r['name'], r['wall_vs_bare_default'], r['steps'],
                      r['best_wall_s'] - bare_default['best_wall_s'],
                      min(x['call_s'] for x in r['runs'])))
    if args.repeat > 1:
        print('(best of %d rounds; medians in the JSON)' % args.repeat)
    print('load average before %s, after %s (1/5/15 min)' % (load_before, load_after))

    report = {
        'benchmark': 'deep_cnn training throughput',
        'date': time.strftime('%Y-%m-%dT%H:%M:%S%z'),
        'steps': args.steps,
        'warmup': args.warmup,
        'repeat': args.repeat,
        'data_dir': args.data_dir,
        'configs': {name: ' '.join((CONFIGS[name].__doc__ or '').split()) for name in CONFIGS},
        'config_env': CONFIG_ENV,
        'machine': machine_info(tensorflow=tensorflow, loadavg_before=load_before,
                                loadavg_after=load_after),
        'results': results,
    }
    common.write_report(args.json, report)
    return 0


if __name__ == '__main__':
    sys.exit(main())
