"""Rerun every step of "Deep MNIST for Experts" and write a reproduction report.

Each recipe of softmax_baseline.py and deep_cnn.py is run for seeds 1..N exactly as a
user runs it (one subprocess per run), and the measured test accuracies are set beside
what the write-ups in the seeds claim. Into --out (default reproduction/) go:

- reproduction.json: one record per run (test accuracy, the accuracy recomputed from
  the saved checkpoint, steps/s, wall time, config, the command line), saved after
  every run;
- REPRODUCTION.md: machine and versions, one row per recipe (the claim and where it
  comes from, mean, spread, verdict), every run, and notes on what the write-ups
  printed against what our scripts print;
- reproduction.png: test accuracy per recipe, a dot per seed, the mean and the claim.

    python reproduce.py                               # every recipe, seeds 1-3: hours
    python reproduce.py --recipes cnn/fast --seeds 5
    python reproduce.py --recipes softmax,cnn/single_conv
    python reproduce.py --quick                       # smoke run, 20 steps each: ~1 min
    python reproduce.py --recipes cnn/epochs --rerun  # time recorded runs again

Full runs go one at a time, since they are timed. A rerun skips what is already
recorded with the same script, recipe, seed, --quick, TensorFlow version and recipe
config, so an interrupted report (Ctrl-C) resumes where it stopped; --rerun runs them
again all the same (a failed rerun keeps the earlier record). Each run keeps its
output in <out>/runs/<name>/: stdout.txt, stderr.txt and, for the CNN, its checkpoints
(ckpt/) and TensorBoard logs (logs/).
"""

import argparse
import contextlib
import dataclasses
import datetime
import importlib.metadata
import json
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import threading
import time

import deep_cnn
import mnist_data
import runs
import softmax_baseline

ROOT = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = {'softmax': 'softmax_baseline.py', 'cnn': 'deep_cnn.py'}
# --quick: enough steps to pass through every code path (step lines, summaries,
# checkpoint, test pass), few enough for all recipes to take about a minute.
QUICK_FLAGS = {'softmax': ['--steps', '50'],
               'cnn': ['--steps', '20', '--log_every', '10', '--summary_every', '10']}
# Quick runs are not timed, so two share the two cores; full runs go one at a time.
QUICK_JOBS = 2
HEARTBEAT_S = 60
AGREE = 0.5 / 10000             # accuracies closer than half a test image: the same count
LOOSE_SLACK = 0.005             # how far below a '~' or 'about' claim still meets it
EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class Claim:
    """What a write-up says a recipe reaches, where, and what its code prints."""
    text: str       # as worded ('about 92%', '0.975', '>= 0.9925'); '' when there is no number
    cite: str       # where, briefly: seed file, line and the words (the results table)
    detail: str     # the sentence it comes from, translated (the notes)
    printed: str    # what the write-up's code prints on stdout
    note: str = ''  # why a shortfall happens, once someone has found out


# In the order of the tutorial's steps (the README's step table). Quotes are the
# seeds' own words, translated in parentheses.
CLAIMS = {
    'softmax/expert': Claim(
        'about 92%', "003 l.115: '약 92 %' (about 92 %)",
        "003 l.115: '이것은 약 92 % 정확해야합니다' (this should be about 92 % accurate)",
        '003 l.116 prints the bare number: `print(accuracy.eval(...))`.'),
    'softmax/original': Claim(
        '91%', "000 l.27: '91%'",
        "000 l.27: 'With a MNIST correct answer rate of 91%, it is embarrassingly bad'",
        '000 l.26 prints the bare number (Python 2: `print accuracy.eval(...)`).'),
    'cnn/single_conv': Claim(
        '0.975', "001 l.149: '0.975'",
        "001 l.149: 'テストセットに対する正答率は、0.975が得られます' (the test accuracy comes "
        "out at 0.975); l.19 rounds it to '約97%' (about 97 %)",
        '001 l.135-147: `step %d, training accuracy %g` every 10 of 1001 steps (steps '
        '0-1000, 101 lines), measured on the batch just trained on, after its update; then '
        '`test accuracy %g`; then it opens a window of filters and pooled maps.',
        note='001\'s 0.975 is a single run of a small network whose result moves by about '
             '0.003 from seed to seed, and it sits at the top of that range. reproduction/'
             'single_conv_study.py trains the recipe for seeds 1-10 (0.9721 ± 0.0027, '
             '0.9662-0.9750; every run in single_conv_study.json) and rules out the '
             'likely causes one by one. The initial weights: 001 draws all three weight '
             'matrices with seed=1, which the recipe now does too; weights with their own op '
             'seeds give 0.9725 ± 0.0042. The data order of the 2015 input_data that 001 ran '
             'on (first epoch unshuffled, then numpy.random.shuffle): 0.9719 ± 0.0023, and '
             '0.9699 for 001\'s own seeding (np.random.seed(1), tf.set_random_seed(1)) on '
             'TF 2.21. Dead units: ruled out on the earlier runs\' checkpoints. A low seed is '
             'its data order, not its weights: with 001\'s initial weights held fixed, data '
             'order 3 gives '
             '0.9624 where orders 1-10 otherwise give 0.9704-0.9741. Left: TF 0.x\'s own '
             'kernels and random streams, which cannot be rerun on Python 3.11, and 001 l.151, '
             'which shows "32 filters" where its code has 16 (the recipe with 32 filters, '
             'seeds 1-10, gave 0.9736 ± 0.0021 in a one-off run: closer, still short). The '
             'recipe is 001\'s code and was not tuned.'),
    'cnn/expert': Claim(
        '99.2%', "003 l.123: '99.2 %'",
        "003 l.123: '이것은 우리에게 99.2 %의 정확성을 줄 것입니다' (this will give us 99.2 % "
        "accuracy); l.278: '최종 테스트 세트 정확도는 약 99.2 % 여야합니다' (the final test "
        "accuracy should be about 99.2 %)",
        '003 l.259-276: `step %d, training accuracy %g` every 100 of 20000 steps, before the '
        'update (200 lines, steps 0-19900), then `test accuracy %g`.'),
    'cnn/original': Claim(
        '99.24%', "001 l.271: '99.24%'",
        "001 l.271: 'テストセットに対する正答率(99.24%)が表示されて' (the test accuracy, 99.24 %, "
        "is shown) for its two-layer script; 000 l.27 aims at '99.2%'",
        '000 l.71-79: the same lines as 003 (Python 2 prints). 001\'s two-layer script '
        '(l.235-248) runs 20001 steps and prints after every 100th update (201 lines, steps '
        '0-20000), saving train_data-<step> each time; its biases start at 0 (l.172, '
        '`tf.constant(0,1, shape=shape)`), 000\'s at 0.1.'),
    'cnn/summaries': Claim(
        '~0.98', 'SPEC.md\'s estimate; 002 gives no number',
        "002 shows its results only as screenshots and says 'Ich bin mir über die Genauigkeit "
        "etwas unsicher' (l.31: I am a little unsure about the accuracy); ~0.98 is SPEC.md's "
        "estimate for its 3000 steps",
        '002 l.199-223: `step %d, training accuracy %g` every 100 of 3000 steps, then `test '
        'accuracy %g`. Its logging `sess.run` also runs `train_step`, with keep_prob 1.0 '
        '(l.206), before the loop\'s own dropout step (l.219): 3030 updates in 3000 '
        'iterations.'),
    'cnn/epochs': Claim(
        '', '004 gives no number',
        "004 l.126: '等個十分鐘,應該會看到這個' (wait ten minutes and you should see this) "
        "points at a screenshot; l.127: '雖然沒有達到超高的準確率, 但還是比基礎神經網路還要高' "
        "(not a very high accuracy, but higher than the basic neural network)",
        '004 l.120-124: `Step E out of 3 loss: L` after each epoch (429 batches of 128), '
        '`Optimization Finished!`, then `Accuracy: A`.'),
    'cnn/fast': Claim(
        '>= 0.9925', "this project's target (SPEC.md)",
        "SPEC.md: '>= 0.9925 mean of 5 untuned seeds'; no write-up has this recipe (the "
        "expert network on this project's own schedule)", ''),
}


# --- the command line -------------------------------------------------------------

def recipe_tables():
    return {'softmax': softmax_baseline.RECIPES, 'cnn': deep_cnn.RECIPES}


def recipe_names():
    """Every 'script/recipe' name, in the order of the tutorial's steps."""
    names = ['%s/%s' % (kind, r) for kind, table in recipe_tables().items() for r in table]
    return [n for n in CLAIMS if n in names] + [n for n in names if n not in CLAIMS]


def step_of(name):
    """The recipe's step number in the tutorial's order (1 = softmax/expert)."""
    return recipe_names().index(name) + 1


def recipe_list(text):
    """An argparse type: comma-separated recipe names or groups, in step order."""
    names = recipe_names()
    groups = {'all': names}
    groups.update({kind: [n for n in names if n.startswith(kind + '/')] for kind in SCRIPTS})
    chosen = set()
    for word in (w.strip() for w in text.split(',')):
        if word in groups:
            chosen.update(groups[word])
        elif word in names:
            chosen.add(word)
        elif word:
            raise argparse.ArgumentTypeError('unknown recipe %r; choose from %s'
                                             % (word, ', '.join(list(groups) + names)))
    if not chosen:
        raise argparse.ArgumentTypeError('%r names no recipe' % text)
    return [n for n in names if n in chosen]


def parse_args(argv):
    p = runs.ArgumentParser(
        description='Rerun every step of "Deep MNIST for Experts" (softmax_baseline.py and '
                    'deep_cnn.py recipes, seeds 1..N) and write REPRODUCTION.md, '
                    'reproduction.png and reproduction.json.',
        epilog='Recipes, in step order: %s. Groups: softmax, cnn, all.'
               % ', '.join(recipe_names()))
    p.add_argument('--out', default='reproduction',
                   help='report directory; runs go to OUT/runs/ (default: reproduction)')
    p.add_argument('--seeds', type=runs.positive_int,
                   help='run seeds 1..N of each recipe (default: 3; 1 with --quick)')
    p.add_argument('--recipes', type=recipe_list, default='all',
                   help='comma-separated names as SCRIPT/RECIPE, e.g. softmax/expert,'
                        'cnn/fast, or the groups softmax, cnn, all (default: all)')
    p.add_argument('--quick', action='store_true',
                   help='smoke run: CNN recipes 20 steps, softmax 50, two runs at a time; '
                        'claims are not checked')
    p.add_argument('--report_only', action='store_true',
                   help='run nothing: write the report from the runs already recorded '
                        '(a recipe shows the seeds it has)')
    p.add_argument('--rerun', action='store_true',
                   help='run again the runs already recorded, e.g. to time them on a quiet '
                        'machine; a new record replaces the old one only if its run ends well')
    p.add_argument('--data_dir', default=mnist_data.default_data_dir(),
                   help='MNIST files (default: $MNIST_DATA_DIR or MNIST_data)')
    args = p.parse_args(argv)
    if args.rerun and args.report_only:
        p.error('argument --rerun: not allowed with --report_only, which runs nothing')
    if args.seeds is None:
        args.seeds = 1 if args.quick else 3
    return args


# --- the plan and its records -----------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Run:
    """One planned run: a recipe of one script under one seed."""
    name: str       # 'cnn/expert'
    seed: int
    quick: bool

    @property
    def kind(self):
        return self.name.split('/')[0]

    @property
    def recipe(self):
        return self.name.split('/', 1)[1]

    @property
    def script(self):
        return SCRIPTS[self.kind]

    @property
    def dir_name(self):
        # Quick runs get their own directory: --fresh must not wipe a full run's checkpoints.
        return '%s-s%d%s' % (self.name.replace('/', '-'), self.seed, '-quick' * self.quick)

    @property
    def identity(self):
        return (self.script, self.recipe, self.seed, self.quick)


def recipe_config(run):
    """The recipe's row as plain JSON values: part of what decides whether a record is current."""
    row = recipe_tables()[run.kind][run.recipe]
    return json.loads(json.dumps(dataclasses.asdict(row)))


def recipe_changed(recorded, run):
    """Whether the recipe's row differs from ``recorded``, the row a run was made with.
    A field added since then counts as unchanged while it holds its default: a new
    field's default keeps the behaviour from before the field existed."""
    row = recipe_tables()[run.kind][run.recipe]
    defaults = json.loads(json.dumps({f.name: f.default for f in dataclasses.fields(row)
                                      if f.default is not dataclasses.MISSING}))
    current = {k: v for k, v in recipe_config(run).items()
               if not (isinstance(recorded, dict) and k not in recorded
                       and k in defaults and v == defaults[k])}
    return current != recorded


def flag_overrides(run):
    """The config values that --quick's flags change, e.g. {'steps': 20}."""
    flags = QUICK_FLAGS[run.kind] if run.quick else []
    return {flag[2:]: int(value) for flag, value in zip(flags[::2], flags[1::2])}


def planned_steps(run):
    overrides = flag_overrides(run)
    if run.kind == 'cnn':
        return deep_cnn.resolve(run.recipe, **overrides).steps
    return overrides.get('steps', softmax_baseline.RECIPES[run.recipe].steps)


def tensorflow_version():
    """The installed TensorFlow's version, read without importing it (that takes seconds)."""
    for dist in ('tensorflow', 'tensorflow-cpu', 'tensorflow-macos', 'tf-nightly'):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return 'unknown'


def record_identity(record):
    return tuple(record.get(k) for k in ('script', 'recipe', 'seed', 'quick'))


def stale_reason(record, run, tf_version):
    """Why ``record`` cannot stand for ``run`` any more; None if it still does."""
    if record.get('status') != 'ok':
        return 'the recorded run failed'
    if not all(isinstance(record.get(k), (int, float)) for k in ('test_accuracy', 'wall_time_s')):
        return 'the record is incomplete'
    if record.get('tensorflow') != tf_version:
        return 'recorded with TensorFlow %s' % record.get('tensorflow')
    if recipe_changed(record.get('recipe_config'), run):
        return 'the recipe changed since'
    return None


def current_record(run, records, tf_version):
    """The record that stands for ``run``, or None."""
    for record in records:
        if record_identity(record) == run.identity and not stale_reason(record, run, tf_version):
            return record
    return None


def runs_to_do(plan, records, tf_version, rerun=False):
    """The planned runs without a current record (all of them with ``rerun``); says on
    stderr which are skipped and why others are rerun."""
    todo, skipped = [], []
    for run in plan:
        old = [r for r in records if record_identity(r) == run.identity]
        if current_record(run, records, tf_version):
            if not rerun:
                skipped.append('%s seed %d' % (run.name, run.seed))
                continue
            why = '--rerun'
        else:
            why = old and stale_reason(old[-1], run, tf_version)
        if why:
            print('reproduce: rerunning %s seed %d: %s' % (run.name, run.seed, why),
                  file=sys.stderr)
        todo.append(run)
    if skipped:
        print('reproduce: skipped %d run(s) already recorded: %s'
              % (len(skipped), ', '.join(skipped)), file=sys.stderr)
    return todo


def replace_record(records, record, run, tf_version):
    """Put ``record`` in place of run's earlier records, in ``records``; but a failed run
    (under --rerun) does not replace a current one: then False, and nothing changes."""
    if record.get('status') != 'ok' and current_record(run, records, tf_version):
        return False
    records[:] = [r for r in records if record_identity(r) != run.identity] + [record]
    return True


def load_records(path):
    """The recorded runs. A file that is not ours is set aside as .bak with one warning
    line, and the report starts afresh."""
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as e:
        problem = str(e)
    else:
        runs = data.get('runs') if isinstance(data, dict) else None
        if isinstance(runs, list) and all(isinstance(r, dict) for r in runs):
            return runs
        problem = 'no list of runs'
    os.replace(path, path + '.bak')
    print('reproduce: warning: %s is malformed (%s); moved it to %s.bak and start afresh'
          % (path, problem, os.path.basename(path)), file=sys.stderr)
    return []


def save_records(path, records):
    """Write the records through a temporary file, so an interruption never leaves half a file."""
    tmp = path + '.tmp'
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump({'runs': records}, f, indent=2, ensure_ascii=False)
        f.write('\n')
    os.replace(tmp, path)


# --- one run ----------------------------------------------------------------------

def child_command(run, out_dir, data_dir):
    """The command line a user would type for this run (absolute paths: it reruns anywhere)."""
    run_dir = os.path.join(out_dir, 'runs', run.dir_name)
    command = [sys.executable, os.path.join(ROOT, run.script), '--recipe', run.recipe,
               '--seed', str(run.seed)]
    if run.kind == 'cnn':
        command += ['--fresh', '--data_dir', data_dir,
                    '--checkpoint_dir', os.path.join(run_dir, 'ckpt'),
                    '--log_dir', os.path.join(run_dir, 'logs')]
    else:
        command += ['--data_dir', data_dir]
    return command + (QUICK_FLAGS[run.kind] if run.quick else [])


class Job:
    """A run in progress: its child process, log files and clock."""

    def __init__(self, index, run, out_dir, data_dir):
        self.index, self.run = index, run
        self.dir = os.path.join(out_dir, 'runs', run.dir_name)
        os.makedirs(self.dir, exist_ok=True)
        self.command = child_command(run, out_dir, data_dir)
        self.logs = [open(os.path.join(self.dir, name), 'w')
                     for name in ('stdout.txt', 'stderr.txt')]
        self.start, self.end = time.monotonic(), None
        # A session of its own: Ctrl-C reaches only us, and we stop the child ourselves.
        self.proc = subprocess.Popen(self.command, cwd=ROOT, stdout=self.logs[0],
                                     stderr=self.logs[1], start_new_session=True)
        # The exit time is taken as it happens, whatever the main thread is busy with.
        self.waiter = threading.Thread(target=self._wait, daemon=True)
        self.waiter.start()

    def _wait(self):
        self.proc.wait()
        self.end = time.monotonic()

    def read(self, name):
        with open(os.path.join(self.dir, name), errors='replace') as f:
            return f.read()

    def stop(self):
        """Kill the child: SIGTERM first (deep_cnn then saves its step), SIGKILL if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            self.waiter.join(30)
            if self.proc.poll() is None:
                self.proc.kill()
                self.waiter.join()
        self.close()

    def close(self):
        for f in self.logs:
            f.close()


def last_accuracy(stdout):
    """X from the last stdout line ``test accuracy X``, or None."""
    lines = stdout.strip().splitlines()
    match = re.fullmatch(r'test accuracy (\S+)', lines[-1].strip()) if lines else None
    try:
        return float(match.group(1)) if match else None
    except ValueError:
        return None


def recompute(checkpoint_dir, data_dir):
    """(test accuracy of the saved checkpoint, evaluated afresh in this process, error)."""
    try:
        return float(deep_cnn.checkpoint_test_accuracy(checkpoint_dir, data_dir)), None
    except Exception as e:  # a failed cross-check must not lose the run it checks
        return None, '%s: %s' % (type(e).__name__, e)


def cnn_details(job, data_dir):
    """What deep_cnn.py's run.json and checkpoint tell about the run."""
    checkpoint_dir = os.path.join(job.dir, 'ckpt')
    info = runs.read_run_json(checkpoint_dir, warn=False)
    accuracy, error = recompute(checkpoint_dir, data_dir)
    details = {'recomputed_accuracy': accuracy, 'steps': info.get('steps'),
               'steps_per_s': info.get('steps_per_s'), 'train_time_s': info.get('wall_time_s')}
    # run.json's resolved config (older ones only list the flags); else the record keeps
    # the recipe with --quick's overrides.
    if info.get('config') or info.get('flags'):
        details['config'] = info.get('config') or info.get('flags')
    if error:
        details['recompute_error'] = error
        print('reproduce: warning: %s seed %d: not recomputed from its checkpoint: %s'
              % (job.run.name, job.run.seed, error), file=sys.stderr)
    return details


def softmax_details(job):
    """Steps, steps/s and training time from softmax_baseline.py's timing line on stderr."""
    stderr = job.read('stderr.txt')

    def number(pattern):
        found = re.findall(pattern, stderr)
        return float(found[-1]) if found else None

    steps = number(r'(\d+) steps x')
    return {'recomputed_accuracy': None, 'steps': int(steps) if steps else None,
            'steps_per_s': number(r'([\d.]+) steps/s'), 'train_time_s': number(r'([\d.]+) s,')}


def make_record(job, data_dir, tf_version):
    """The JSON record of a finished job."""
    run = job.run
    record = {
        'name': run.name, 'script': run.script, 'recipe': run.recipe, 'seed': run.seed,
        'quick': run.quick, 'status': 'ok', 'exit_code': job.proc.returncode,
        'test_accuracy': last_accuracy(job.read('stdout.txt')), 'recomputed_accuracy': None,
        'steps': None, 'steps_per_s': None, 'train_time_s': None,
        'wall_time_s': round(job.end - job.start, 2),
        'config': dict(recipe_config(run), **flag_overrides(run)),
        'recipe_config': recipe_config(run), 'tensorflow': tf_version,
        'python': platform.python_version(), 'machine': machine_line(),
        'command': shlex.join(job.command), 'run_dir': os.path.join('runs', run.dir_name),
        'date': datetime.datetime.now().isoformat(timespec='seconds'),
    }
    if job.proc.returncode != 0 or record['test_accuracy'] is None:
        lines = job.read('stderr.txt').strip().splitlines()
        record.update(status='failed', error=lines[-1] if lines else 'no "test accuracy" line')
        return record
    record.update(cnn_details(job, data_dir) if run.kind == 'cnn' else softmax_details(job))
    return record


# --- running the plan -------------------------------------------------------------

def estimate(run, records):
    """Expected wall time of ``run``: the mean of its recipe's recorded runs, else its
    steps at the steps/s of a recorded run of the same network and batch size."""
    ok = [r for r in records if r.get('status') == 'ok' and r.get('quick') == run.quick
          and isinstance(r.get('wall_time_s'), (int, float))]
    same = [r['wall_time_s'] for r in ok if r.get('name') == run.name]
    if same:
        return statistics.mean(same)
    config = recipe_config(run)
    for r in reversed(ok):
        other = r.get('recipe_config') or {}
        if (r.get('script') == run.script and r.get('steps_per_s') and r.get('train_time_s')
                and all(other.get(k) == config.get(k) for k in ('network', 'batch_size'))):
            startup = r['wall_time_s'] - r['train_time_s']
            return planned_steps(run) / r['steps_per_s'] + startup
    return None


def child_progress(job):
    """deep_cnn's latest progress line ('step N/M  R steps/s  ETA T'), or ''."""
    lines = re.findall(r'step \d+/\d+ .*ETA \S+', job.read('stderr.txt'))
    return lines[-1].strip() if lines else ''


@contextlib.contextmanager
def interrupts():
    """In the block, SIGINT and SIGTERM raise KeyboardInterrupt, even where a shell left
    SIGINT ignored (a background job); yields a list that gets the signal's number. The
    handlers from before come back however the block is left."""
    caught = []

    def interrupt(signum, frame):
        caught.append(signum)
        raise KeyboardInterrupt
    with runs.stop_signals_to(interrupt):
        yield caught


class Runner:
    """Runs the plan's missing runs, recording each one as soon as it ends."""

    def __init__(self, todo, args, records, json_path, tf_version):
        # Quick runs share two slots: the CNN runs (the plan's tail) go first, so the
        # short softmax runs fill the gaps at the end.
        self.pending = list(reversed(todo)) if args.quick else list(todo)
        self.total = len(todo)
        self.args, self.records, self.json_path = args, records, json_path
        self.tf_version = tf_version
        self.out_dir, self.data_dir = os.path.abspath(args.out), os.path.abspath(args.data_dir)
        self.jobs = QUICK_JOBS if args.quick else 1
        self.running, self.started, self.last_beat = [], 0, time.monotonic()

    def run(self):
        """0 once every run has ended; after Ctrl-C or a SIGTERM (children stopped, what
        they did so far kept), 128 + the signal's number."""
        with interrupts() as caught:
            return self._run(caught)

    def _run(self, caught):
        try:
            while self.pending or self.running:
                ended = [j for j in self.running if j.end is not None]
                self.running = [j for j in self.running if j not in ended]
                # Timed runs get the machine to themselves: the next one starts once
                # this one is recorded (its checkpoint re-evaluated). Quick runs are not
                # timed, so the next child starts first and uses those seconds.
                for job in ended if not self.args.quick else []:
                    self.finish(job)
                while self.pending and len(self.running) < self.jobs:
                    self.start_next()
                for job in ended if self.args.quick else []:
                    self.finish(job)
                if self.running and not ended:
                    self.running[0].waiter.join(0.2)
                self.heartbeat()
        except KeyboardInterrupt:
            for job in self.running:
                job.stop()
            print('\nreproduce: interrupted: stopped %s; %d run(s) recorded in %s' % (
                ', '.join('%s seed %d' % (j.run.name, j.run.seed) for j in self.running)
                or 'nothing', len(self.records), self.json_path), file=sys.stderr)
            return 128 + (caught[-1] if caught else signal.SIGINT)
        return 0

    def start_next(self):
        run = self.pending.pop(0)
        self.started += 1
        self.running.append(Job(self.started, run, self.out_dir, self.data_dir))
        this = estimate(run, self.records)
        print('[%d/%d] %s seed %d: started; this run %s, the report %s' % (
            self.started, self.total, run.name, run.seed,
            '~' + runs.duration(this) if this is not None else 'not timed yet', self.eta()),
            file=sys.stderr, flush=True)

    def eta(self):
        """Time left for the whole report: the estimates of what is left, over the slots."""
        now = time.monotonic()
        left = [estimate(r, self.records) for r in self.pending]
        for job in self.running:
            guess = estimate(job.run, self.records)
            left.append(None if guess is None else max(0.0, guess - (now - job.start)))
        known = [t for t in left if t is not None]
        unknown = len(left) - len(known)
        if not known:
            return 'not timed yet'
        text = '~' + runs.duration(sum(known) / self.jobs)
        return text + (' + %d run(s) not timed yet' % unknown if unknown else '')

    def finish(self, job):
        job.close()
        record = make_record(job, self.data_dir, self.tf_version)
        if not replace_record(self.records, record, job.run, self.tf_version):
            print('reproduce: %s seed %d failed; its earlier record stays'
                  % (job.run.name, job.run.seed), file=sys.stderr)
        save_records(self.json_path, self.records)
        recomputed = record.get('recomputed_accuracy')
        if record['status'] != 'ok':
            result = 'FAILED (exit %s): %s; see %s' % (record['exit_code'], record['error'],
                                                      job.dir)
        elif recomputed is None:
            result = 'test accuracy %g' % record['test_accuracy']
        else:
            result = 'test accuracy %g (from the checkpoint: %g)' % (
                record['test_accuracy'], recomputed)
        print('[%d/%d] %s seed %d: %s, %s' % (job.index, self.total, job.run.name, job.run.seed,
                                              result, runs.duration(record['wall_time_s'])),
              file=sys.stderr, flush=True)
        if job.proc.returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM):
            raise KeyboardInterrupt   # the run was stopped by a signal: so is the report

    def heartbeat(self):
        """Every minute, one line per long run: time so far and the child's own ETA."""
        if time.monotonic() - self.last_beat < HEARTBEAT_S:
            return
        self.last_beat = time.monotonic()
        for job in self.running:
            print('[%d/%d] %s seed %d: %s so far; %s; the report %s' % (
                job.index, self.total, job.run.name, job.run.seed,
                runs.duration(self.last_beat - job.start), child_progress(job) or 'no progress yet',
                self.eta()), file=sys.stderr)


# --- verdicts ---------------------------------------------------------------------

def claim_number(claim):
    """The claim's number as a fraction and its decimals written that way ('99.24%' ->
    (0.9924, 4)), or None."""
    match = re.search(r'(\d+(?:\.(\d*))?)\s*(%?)', claim or '')
    if not match:
        return None
    value, decimals = float(match.group(1)), len(match.group(2) or '')
    if match.group(3):
        value, decimals = value / 100, decimals + 2
    return value, decimals


def claim_threshold(claim):
    """The lowest mean test accuracy that meets ``claim``; None if it has no number.

    '0.992' -> 0.9915 and '99.24%' -> 0.99235 (half a unit of the last digit);
    '~0.98', 'about 92%' -> 0.975, 0.915 (loose: 0.005 below); '>= 0.9925' -> 0.9925.
    """
    number = claim_number(claim)
    if number is None:
        return None
    value, decimals = number
    wording = claim.strip().lower()
    if wording.startswith('>='):
        return value
    if wording.startswith(('~', 'about', 'approx')):
        return round(value - LOOSE_SLACK, 10)
    return round(value - 0.5 * 10 ** -decimals, 10)


def spread(values):
    """(mean, sample standard deviation or None for one value, min, max)."""
    sd = statistics.stdev(values) if len(values) > 1 else None
    return statistics.mean(values), sd, min(values), max(values)


def verdict(claim, accuracies, quick=False):
    """'met', 'within the spread', 'falls short', 'reported' (no number to check),
    'quick: not checked' or 'not run', for the test accuracies of a recipe's seeds."""
    if not accuracies:
        return 'not run'
    if quick:
        return 'quick: not checked'
    threshold = claim_threshold(claim)
    if threshold is None:
        return 'reported'
    mean, sd, _, best = spread(accuracies)
    if mean >= threshold - EPS:
        return 'met'
    if best >= threshold - EPS or (sd is not None and mean + 2 * sd >= threshold - EPS):
        return 'within the spread'
    return 'falls short'


VERDICT_RULE = (
    'A claim "X" is **met** when the mean test accuracy over the seeds is at least X less '
    'half a unit of its last digit (0.992 needs >= 0.9915; 99.24% needs >= 0.99235); a '
    'loose claim ("~0.98", "about 92%") when the mean is at least X - 0.005; a bound '
    '(">= 0.9925") when the mean is at least the bound. Not met, but the best seed or the '
    'mean + 2 standard deviations reaches that threshold: **within the spread**. Otherwise: '
    '**falls short**. A write-up that gives no number is **reported**: nothing to check. '
    'Standard deviations are sample ones (n - 1); --quick runs are not checked.')


# --- the report -------------------------------------------------------------------

def machine_line():
    return '%s, %d cores' % (runs.cpu_model(), os.cpu_count() or 0)


def claim_for(name):
    """The write-up's claim; for a recipe no write-up covers, its table's ``expect``."""
    if name in CLAIMS:
        return CLAIMS[name]
    kind, recipe = name.split('/', 1)
    expect = getattr(recipe_tables()[kind][recipe], 'expect', '') or ''
    return Claim(expect if claim_number(expect) else '', "the recipe table's expect",
                 'no write-up quote: the recipe table says %r' % expect, '')


def stats_cells(rows):
    """The mean, sd, min-max, wall time and steps/s cells of a recipe's records."""
    accuracies = [r['test_accuracy'] for r in rows]
    mean, sd, low, high = spread(accuracies)
    walls = [r['wall_time_s'] for r in rows]
    wall_sd = statistics.stdev(walls) if len(walls) > 1 else None
    rates = [r['steps_per_s'] for r in rows if r.get('steps_per_s')]
    return ['%.4f' % mean, '-' if sd is None else '%.4f' % sd, '%.4f-%.4f' % (low, high),
            '%.1f s' % statistics.mean(walls) + ('' if wall_sd is None else ' ± %.1f' % wall_sd),
            '%.1f' % statistics.mean(rates) if rates else '-']


def agreement(rows):
    """Whether the accuracy recomputed from each checkpoint is the one the run printed."""
    if all(r['script'] != 'deep_cnn.py' for r in rows):
        return 'n/a (no checkpoint)'
    if any(r.get('recomputed_accuracy') is None for r in rows):
        return 'not recomputed'
    differ = ['seed %d: %g vs %g' % (r['seed'], r['recomputed_accuracy'], r['test_accuracy'])
              for r in rows if abs(r['recomputed_accuracy'] - r['test_accuracy']) > AGREE]
    return 'no (%s)' % '; '.join(differ) if differ else 'yes'


def recipe_row(step, name, rows, failed, quick):
    """One row of the results table."""
    claim = claim_for(name)
    cells = [str(step), '`%s`' % name,
             '%s (%s)' % (claim.text or 'no number', claim.cite),
             str(len(rows)) + (' + %d failed' % failed if failed else ''),
             ', '.join(str(r['seed']) for r in rows) or '-']
    if rows:
        stats = stats_cells(rows)
        cells += stats[:3] + [agreement(rows)] + stats[3:]
    else:
        cells += ['-'] * 6
    cells.append(verdict(claim.text, [r['test_accuracy'] for r in rows], quick))
    return '| ' + ' | '.join(cells) + ' |'


def results_by_recipe(plan, records, tf_version):
    """{name: (current ok records, number of failed runs)} over the plan, in step order."""
    out = {}
    for run in plan:
        rows, failed = out.get(run.name, ([], 0))
        record = current_record(run, records, tf_version)
        if record:
            rows = rows + [record]
        elif any(record_identity(r) == run.identity and r.get('status') == 'failed'
                 for r in records):
            failed += 1
        out[run.name] = (rows, failed)
    return out


def header_lines(args, argv, tf_version, results):
    done = sum(len(rows) for rows, _ in results.values())
    planned = len(results) * args.seeds
    lines = ['# Reproducing "Deep MNIST for Experts"', '',
             'Written by `reproduce.py`; run the same command again to update it (recorded '
             'runs are kept, see `reproduction.json` for each run\'s exact command line).', '',
             '| | |', '|---|---|',
             '| command | `%s` |' % shlex.join(['python', 'reproduce.py'] + list(argv)),
             '| date | %s |' % datetime.datetime.now().isoformat(sep=' ', timespec='minutes'),
             '| machine | %s; %s |' % (platform.platform(), machine_line()),
             '| TensorFlow | %s |' % tf_version,
             '| Python | %s |' % platform.python_version(),
             '| runs | %d of %d planned (%s per recipe) |' % (
                 done, planned, 'seed 1' if args.seeds == 1 else 'seeds 1-%d' % args.seeds),
             '']
    if args.quick:
        lines += ['**A --quick smoke run** (CNN recipes 20 steps, softmax 50): the accuracies '
                  'say nothing about the claims, which are not checked.', '']
    return lines


def runs_table(results):
    lines = ['## Runs', '', '| recipe | seed | test accuracy | from checkpoint | steps | '
             'steps/s | wall time | date |', '|---|---|---|---|---|---|---|---|']
    for name, (rows, _) in results.items():
        for r in rows:
            recomputed = r.get('recomputed_accuracy')
            lines.append('| `%s` | %d | %g | %s | %s | %s | %.1f s | %s |' % (
                name, r['seed'], r['test_accuracy'], '-' if recomputed is None else
                '%g' % recomputed, r.get('steps') or '-', r.get('steps_per_s') or '-',
                r['wall_time_s'], r.get('date', '-')))
    return lines + ['']


def describe_stdout(path):
    """What a run printed on stdout, in a sentence."""
    try:
        with open(path, errors='replace') as f:
            lines = [line.strip() for line in f if line.strip()]
    except OSError:
        return 'its stdout.txt is gone'
    steps = [int(m.group(1)) for m in (re.match(r'step (\d+), training accuracy', line)
                                       for line in lines) if m]
    epochs = [line for line in lines if re.match(r'Step \d+ out of \d+ loss:', line)]
    parts = []
    if steps:
        parts.append('%d `step %%d, training accuracy %%g` lines (steps %d-%d)'
                     % (len(steps), steps[0], steps[-1]))
    if epochs:
        parts.append('%d `Step E out of N loss: L` lines' % len(epochs))
    if not lines:
        return 'nothing'
    return ', then '.join(parts + ['`%s`' % lines[-1]]) if parts else 'only `%s`' % lines[-1]


def notes_lines(out_dir, results, quick):
    lines = ['## Notes', '', 'What each write-up claims and prints, and what our script printed '
             'here.' + (' (Ours: a --quick run, so fewer steps.)' if quick else ''), '']
    for name, (rows, _) in results.items():
        claim = claim_for(name)
        lines += ['### %d. `%s`' % (step_of(name), name), '',
                  '- Claim: %s. %s.' % (claim.text or 'no number', claim.detail)]
        if claim.printed:
            lines.append('- The write-up prints: %s' % claim.printed)
        if rows:
            first = min(rows, key=lambda r: r['seed'])
            path = os.path.join(out_dir, first['run_dir'], 'stdout.txt')
            lines.append('- Ours printed (seed %d, `%s/stdout.txt`): %s.'
                         % (first['seed'], first['run_dir'], describe_stdout(path)))
            outcome = verdict(claim.text, [r['test_accuracy'] for r in rows], quick)
            if outcome in ('within the spread', 'falls short'):
                lines.append('- Why the mean misses the claim: %s'
                             % (claim.note or 'not explained yet.'))
        lines.append('')
    return lines


def write_markdown(path, args, argv, tf_version, results):
    lines = header_lines(args, argv, tf_version, results)
    lines += ['## Verdict rule', '', VERDICT_RULE, '', '## Results', '',
              '| step | script & recipe | claim (source) | n | seeds | mean | sd | min-max | '
              'checkpoint agrees | wall time / run | steps/s | verdict |',
              '|' + '---|' * 12]
    lines += [recipe_row(step_of(name), name, rows, failed, args.quick)
              for name, (rows, failed) in results.items()]
    lines += ['', 'Wall time: the whole process (TensorFlow start-up, data, training, test), '
              'mean ± sd. steps/s: the training loop alone. checkpoint agrees: the test '
              'accuracy recomputed from the saved checkpoint is the printed one.', '']
    lines += runs_table(results) + notes_lines(os.path.dirname(path), results, args.quick)
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines))


def plot_panel(ax, names, results):
    """Dots per seed, the mean as a bar and the claim as a diamond, one x per recipe."""
    for x, name in enumerate(names):
        accuracies = [r['test_accuracy'] for r in results[name][0]]
        if accuracies:
            # Spread the seeds sideways a little, so equal accuracies stay visible.
            offsets = [0.0] if len(accuracies) < 2 else [
                -0.15 + 0.3 * i / (len(accuracies) - 1) for i in range(len(accuracies))]
            ax.scatter([x + o for o in offsets], accuracies, s=22, color='tab:blue',
                       zorder=3, label='run (one per seed)')
            ax.hlines(statistics.mean(accuracies), x - 0.3, x + 0.3, color='black', lw=2,
                      label='mean')
        number = claim_number(claim_for(name).text)
        if number:
            ax.scatter([x + 0.38], [number[0]], marker='D', s=40, color='tab:red', zorder=4,
                       label='claim')
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha='right')
    ax.set_xlim(-0.6, len(names) - 0.4)
    ax.margins(y=0.2)
    ax.grid(axis='y', alpha=0.3)


def write_png(path, results, tf_version, quick):
    import matplotlib
    matplotlib.use('Agg')  # headless: no display needed
    import matplotlib.pyplot as plt

    # Two panels, since softmax (~0.92) and CNN (~0.99) on one axis would hide the last percent.
    groups = [[n for n in results if n.startswith(kind + '/')] for kind in SCRIPTS]
    groups = [g for g in groups if g]
    fig, axes = plt.subplots(1, len(groups), figsize=(11, 5), squeeze=False,
                             gridspec_kw={'width_ratios': [max(len(g), 2) for g in groups]})
    for ax, names in zip(axes[0], groups):
        plot_panel(ax, names, results)
        ax.set_title(SCRIPTS[names[0].split('/')[0]])
        ax.set_xlabel('script/recipe')
    axes[0][0].set_ylabel('test accuracy')
    handles = {}
    for ax in axes[0]:
        handles.update(zip(*reversed(ax.get_legend_handles_labels())))
    fig.legend(list(handles.values()), list(handles), loc='lower center', ncol=3)
    fig.suptitle('Deep MNIST for Experts, reproduced%s: %s, TensorFlow %s'
                 % (' (--quick smoke run)' if quick else '', machine_line(), tf_version))
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- main -------------------------------------------------------------------------

def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    out_dir = os.path.abspath(args.out)
    try:
        mnist_data.maybe_download(os.path.abspath(args.data_dir))  # once, not in every child
    except (mnist_data.MNISTDataError, OSError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    os.makedirs(out_dir, exist_ok=True)
    json_path = os.path.join(out_dir, 'reproduction.json')
    records = load_records(json_path)
    tf_version = tensorflow_version()
    plan = [Run(name, seed, args.quick) for name in args.recipes
            for seed in range(1, args.seeds + 1)]

    stopped = 0 if args.report_only else Runner(
        runs_to_do(plan, records, tf_version, args.rerun), args, records, json_path,
        tf_version).run()

    save_records(json_path, records)  # even when nothing ran: the three files always exist
    results = results_by_recipe(plan, records, tf_version)
    write_markdown(os.path.join(out_dir, 'REPRODUCTION.md'), args, argv, tf_version, results)
    write_png(os.path.join(out_dir, 'reproduction.png'), results, tf_version, args.quick)
    print('reproduce: wrote %s (REPRODUCTION.md, reproduction.png, reproduction.json)'
          % out_dir, file=sys.stderr)
    if stopped:
        return stopped
    complete = all(len(rows) == args.seeds for rows, _ in results.values())
    return 0 if complete or args.report_only else 1


if __name__ == '__main__':
    sys.exit(main())
