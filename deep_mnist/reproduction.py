"""The reproduction machinery behind reproduce.py: what the write-ups claim, the plan of
runs (a recipe of softmax_baseline.py or deep_cnn.py under one seed each), the records
in reproduction.json that a rerun resumes from, and the runner that starts each run as
a user would (one subprocess per run) and records it as soon as it ends.

A run hands its result over as a record, never through its terminal output: deep_cnn.py
writes run.json beside its checkpoints, softmax_baseline.py writes the same fields into
the file its ``--record`` names; both are read through ``deep_mnist.record``. The report
itself (verdicts, REPRODUCTION.md, reproduction.png) is ``deep_mnist.report``.
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

from deep_mnist import checkpoints, machine, progress, record as run_record, recipes, rundir, signals

# The scripts sit at the top of the checkout, beside this package.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = {'softmax': 'softmax_baseline.py', 'cnn': 'deep_cnn.py'}
# --quick: enough steps to pass through every code path (step lines, summaries,
# checkpoint, test pass), few enough for all recipes to take about a minute.
QUICK_FLAGS = {'softmax': ['--steps', '50'],
               'cnn': ['--steps', '20', '--log_every', '10', '--summary_every', '10']}
# Quick runs are not timed, so two share the two cores; full runs go one at a time.
QUICK_JOBS = 2
HEARTBEAT_S = 60
# What a softmax run writes with --record, in its run directory.
SOFTMAX_RECORD = run_record.RUN_JSON


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



# --- the recipes, in step order ---------------------------------------------------

def recipe_tables():
    return {'softmax': recipes.SOFTMAX_RECIPES, 'cnn': recipes.RECIPES}


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


def quick_summary():
    """What --quick shortens, in words: 'CNN recipes 20 steps, softmax 50'."""
    def steps(kind):
        flags = QUICK_FLAGS[kind]
        return flags[flags.index('--steps') + 1]
    return 'CNN recipes %s steps, softmax %s' % (steps('cnn'), steps('softmax'))


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


def plan(names, seeds, quick):
    """The runs of ``names`` (in step order) for seeds 1..``seeds``."""
    return [Run(name, seed, quick) for name in names for seed in range(1, seeds + 1)]


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
        return recipes.resolve(run.recipe, **overrides).steps
    return overrides.get('steps', recipes.SOFTMAX_RECIPES[run.recipe].steps)


def tensorflow_version():
    """The installed TensorFlow's version, read without importing it (that takes seconds)."""
    for dist in ('tensorflow', 'tensorflow-cpu', 'tensorflow-macos', 'tf-nightly'):
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            pass
    return 'unknown'


def machine_line():
    return '%s, %d cores' % (machine.cpu_model() or 'unknown CPU', os.cpu_count() or 0)


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
    """reproduction.json, written atomically: an interruption never leaves half a file."""
    rundir.write_json(path, {'runs': records})


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
        command += ['--data_dir', data_dir, '--record', os.path.join(run_dir, SOFTMAX_RECORD)]
    return command + (QUICK_FLAGS[run.kind] if run.quick else [])


class Job:
    """A run in progress: its child process, log files and clock."""

    def __init__(self, index, run, out_dir, data_dir):
        self.index, self.run = index, run
        self.dir = os.path.join(out_dir, 'runs', run.dir_name)
        os.makedirs(self.dir, exist_ok=True)
        if run.kind == 'softmax':   # an earlier run's record must not pass for this one's
            with contextlib.suppress(FileNotFoundError):
                os.remove(os.path.join(self.dir, SOFTMAX_RECORD))
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


def as_printed(accuracy):
    """A recorded accuracy as the script's ``test accuracy %g`` line shows it, or None."""
    return float('%g' % accuracy) if isinstance(accuracy, (int, float)) else None


def recompute(checkpoint_dir, data_dir, build):
    """(test accuracy of the saved checkpoint, evaluated afresh in this process by the
    network ``build`` makes, error)."""
    try:
        return checkpoints.checkpoint_test_accuracy(build, checkpoint_dir, data_dir), None
    except Exception as e:  # a failed cross-check must not lose the run it checks
        return None, '%s: %s' % (type(e).__name__, e)


def result_of(info):
    """What a finished run's record (run.json's fields) says, in reproduction.json's words."""
    if info.get('status') != 'finished':
        return {}
    return {'test_accuracy': as_printed(info.get('test_accuracy')), 'steps': info.get('steps'),
            'steps_per_s': info.get('steps_per_s'), 'train_time_s': info.get('wall_time_s')}


def cnn_result(job, data_dir, build):
    """What deep_cnn.py's run.json and checkpoint tell about the run."""
    checkpoint_dir = os.path.join(job.dir, 'ckpt')
    config, info = run_record.config_of(checkpoint_dir)
    result = result_of(info)
    if result.get('test_accuracy') is None:
        return result
    if config is not None:
        result['config'] = dataclasses.asdict(config)   # the run's resolved config
    result['recomputed_accuracy'], error = recompute(checkpoint_dir, data_dir, build)
    if error:
        result['recompute_error'] = error
        print('reproduce: warning: %s seed %d: not recomputed from its checkpoint: %s'
              % (job.run.name, job.run.seed, error), file=sys.stderr)
    return result


def softmax_result(job):
    """What softmax_baseline.py wrote with --record: its accuracy, steps and timing."""
    info = run_record.read_run_json(job.dir)
    result = result_of(info)
    if result and isinstance(info.get('config'), dict):
        result['config'] = info['config']   # the recipe with the flags' overrides
    return result


def make_record(job, data_dir, tf_version, build):
    """The JSON record of a finished job; ``build`` makes the network to re-evaluate a
    CNN's checkpoint with (deep_cnn.deepnn)."""
    run = job.run
    record = {
        'name': run.name, 'script': run.script, 'recipe': run.recipe, 'seed': run.seed,
        'quick': run.quick, 'status': 'ok', 'exit_code': job.proc.returncode,
        'test_accuracy': None, 'recomputed_accuracy': None,
        'steps': None, 'steps_per_s': None, 'train_time_s': None,
        'wall_time_s': round(job.end - job.start, 2),
        'config': dict(recipe_config(run), **flag_overrides(run)),
        'recipe_config': recipe_config(run), 'tensorflow': tf_version,
        'python': platform.python_version(), 'machine': machine_line(),
        'command': shlex.join(job.command), 'run_dir': os.path.join('runs', run.dir_name),
        'date': datetime.datetime.now().isoformat(timespec='seconds'),
    }
    result = {}
    if job.proc.returncode == 0:
        result = cnn_result(job, data_dir, build) if run.kind == 'cnn' else softmax_result(job)
    if result.get('test_accuracy') is None:
        lines = job.read('stderr.txt').strip().splitlines()
        record.update(status='failed', error=lines[-1] if job.proc.returncode and lines
                      else 'it left no run.json of a finished run')
        return record
    record.update(result)
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
    """deep_cnn's latest progress line ('step N/M  R steps/s  ETA T'), or '': shown in the
    heartbeat only, never recorded."""
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
    with signals.stop_signals_to(interrupt):
        yield caught


class Runner:
    """Runs the plan's missing runs, recording each one as soon as it ends."""

    def __init__(self, todo, args, records, json_path, tf_version, build):
        # Quick runs share two slots: the CNN runs (the plan's tail) go first, so the
        # short softmax runs fill the gaps at the end.
        self.pending = list(reversed(todo)) if args.quick else list(todo)
        self.total = len(todo)
        self.args, self.records, self.json_path = args, records, json_path
        self.tf_version, self.build = tf_version, build
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
            '~' + progress.duration(this) if this is not None else 'not timed yet', self.eta()),
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
        text = '~' + progress.duration(sum(known) / self.jobs)
        return text + (' + %d run(s) not timed yet' % unknown if unknown else '')

    def finish(self, job):
        job.close()
        record = make_record(job, self.data_dir, self.tf_version, self.build)
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
                                              result, progress.duration(record['wall_time_s'])),
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
                progress.duration(self.last_beat - job.start),
                child_progress(job) or 'no progress yet', self.eta()), file=sys.stderr)

