"""reproduce.py's machinery: the plan of runs, the records in reproduction.json that a rerun
resumes from, and the runner. A run's result is its record (run.json), never its output."""

import argparse
import collections
import concurrent.futures
import dataclasses
import importlib.metadata
import json
import os
import pathlib
import platform
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

from deep_mnist import checkpoints, machine, progress, recipes, rundir, signals
from deep_mnist import record as run_record

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))   # the scripts' checkout
SCRIPTS = {'softmax': 'softmax_baseline.py', 'cnn': 'deep_cnn.py'}
TABLES = {'softmax': recipes.SOFTMAX_RECIPES, 'cnn': recipes.RECIPES}
# --quick: every code path (step lines, summaries, checkpoint, test), all in about a minute.
QUICK = {'softmax': {'steps': 50}, 'cnn': {'steps': 20, 'log_every': 10, 'summary_every': 10}}
QUICK_SUMMARY = 'CNN recipes %d steps, softmax %d' % (QUICK['cnn']['steps'],
                                                      QUICK['softmax']['steps'])
# Read without importing TensorFlow (that takes seconds); pyproject names this distribution.
try:
    TF_VERSION = importlib.metadata.version('tensorflow')
except importlib.metadata.PackageNotFoundError:     # tensorflow-cpu, a conda build, ...
    TF_VERSION = 'unknown'

# What a write-up says each recipe reaches; reproduction/claims.json explains the fields.
Claim = collections.namedtuple('Claim', 'text cite detail printed note', defaults=[''])
with open(os.path.join(ROOT, 'reproduction', 'claims.json'), encoding='utf-8') as f:
    CLAIMS = {name: Claim(**claim) for name, claim in json.load(f)['claims'].items()}
NAMES = list(CLAIMS)    # every 'script/recipe', in the order of the tutorial's steps


def say(line):
    print('reproduce: ' + line, file=sys.stderr, flush=True)


def recipe_list(text):
    """An argparse type: comma-separated recipe names or groups, in step order."""
    groups = dict(all=NAMES, **{k: [n for n in NAMES if n.startswith(k + '/')] for k in SCRIPTS})
    chosen = set()
    for word in filter(None, (w.strip() for w in text.split(','))):
        if word not in groups and word not in NAMES:
            raise argparse.ArgumentTypeError('unknown recipe %r; choose from %s'
                                             % (word, ', '.join(list(groups) + NAMES)))
        chosen.update(groups.get(word, [word]))
    if not chosen:
        raise argparse.ArgumentTypeError('%r names no recipe' % text)
    return [n for n in NAMES if n in chosen]


@dataclasses.dataclass(frozen=True)
class Run:
    """One planned run: a recipe ('cnn/expert') of one script under one seed."""
    name: str
    seed: int
    quick: bool
    kind = property(lambda self: self.name.split('/')[0])
    recipe = property(lambda self: self.name.split('/', 1)[1])
    script = property(lambda self: SCRIPTS[self.kind])
    # Quick runs get their own directory: --fresh must not wipe a full run's checkpoints.
    dir_name = property(lambda self: '%s-s%d%s' % (self.name.replace('/', '-'), self.seed,
                                                   '-quick' * self.quick))


def recipe_config(run):
    """The recipe's row as plain JSON values: part of what decides whether a record is current."""
    return json.loads(json.dumps(dataclasses.asdict(TABLES[run.kind][run.recipe])))


def records_of(run, records):
    return [r for r in records
            if tuple(r.get(k) for k in ('script', 'recipe', 'seed', 'quick'))
            == (run.script, run.recipe, run.seed, run.quick)]


def stale_reason(record, run, tf_version=TF_VERSION):
    """Why ``record`` cannot stand for ``run`` any more; None if it still does."""
    if record.get('status') != 'ok':
        return 'the recorded run failed'
    if not all(isinstance(record.get(k), (int, float)) for k in ('test_accuracy', 'wall_time_s')):
        return 'the record is incomplete'
    if record.get('tensorflow') != tf_version:
        return 'recorded with TensorFlow %s' % record.get('tensorflow')
    recorded = record.get('recipe_config')
    if isinstance(recorded, dict):   # a field added since is unchanged while at its default
        recorded = json.loads(json.dumps(dict({f.name: f.default for f in dataclasses.fields(
            TABLES[run.kind][run.recipe]) if f.default is not dataclasses.MISSING}, **recorded)))
    return 'the recipe changed since' if recorded != recipe_config(run) else None


def current_record(run, records, tf_version=TF_VERSION):
    return next((r for r in records_of(run, records) if not stale_reason(r, run, tf_version)),
                None)


def runs_to_do(plan, records, tf_version=TF_VERSION, rerun=False):
    """The planned runs without a current record (all with ``rerun``), saying why."""
    todo, skipped = [], []
    for run in plan:
        current = current_record(run, records, tf_version)
        if current and not rerun:
            skipped.append('%s seed %d' % (run.name, run.seed))
            continue
        old = records_of(run, records)
        why = '--rerun' if current else old and stale_reason(old[-1], run, tf_version)
        if why:
            say('rerunning %s seed %d: %s' % (run.name, run.seed, why))
        todo.append(run)
    if skipped:
        say('skipped %d run(s) already recorded: %s' % (len(skipped), ', '.join(skipped)))
    return todo


def replace_record(records, record, run, tf_version=TF_VERSION):
    """``record`` replaces run's earlier ones (True), but a failed one not a current one."""
    if record.get('status') != 'ok' and current_record(run, records, tf_version):
        return False
    old = records_of(run, records)
    records[:] = [r for r in records if r not in old] + [record]
    return True


def results_by_recipe(plan, records, tf_version=TF_VERSION):
    """{name: (current ok records, number of failed runs)} over the plan, in step order."""
    out = {}
    for run in plan:
        rows, failed = out.get(run.name, ([], 0))
        record = current_record(run, records, tf_version)
        failed += not record and any(r.get('status') == 'failed' for r in records_of(run, records))
        out[run.name] = (rows + [record] * bool(record), failed)
    return out


def load_records(path):
    """The recorded runs; a file that is not ours is set aside as .bak, with one line."""
    try:
        data, problem = run_record.read_json(path, {'runs': []}), 'no list of runs'
    except ValueError as e:
        data, problem = None, e
    runs = data.get('runs') if isinstance(data, dict) else None
    if isinstance(runs, list) and all(isinstance(r, dict) for r in runs):
        return runs
    os.replace(path, path + '.bak')
    say('warning: %s is malformed (%s); moved it to %s.bak and start afresh'
        % (path, problem, os.path.basename(path)))
    return []


class Job:
    """A run in progress: its child, started at once as a user would (absolute paths)."""

    def __init__(self, index, run, out_dir, data_dir):
        self.index, self.run, self.dir = index, run, os.path.join(out_dir, 'runs', run.dir_name)
        os.makedirs(self.dir, exist_ok=True)
        pathlib.Path(self.dir, run_record.RUN_JSON).unlink(missing_ok=True)  # an earlier run's
        self.command = [sys.executable, os.path.join(ROOT, run.script), '--recipe', run.recipe,
                        '--seed', str(run.seed), '--data_dir', data_dir]
        self.command += (['--fresh', '--checkpoint_dir', os.path.join(self.dir, 'ckpt'),
                          '--log_dir', os.path.join(self.dir, 'logs')] if run.kind == 'cnn'
                         else ['--record', os.path.join(self.dir, run_record.RUN_JSON)])
        for flag, value in QUICK[run.kind].items() if run.quick else ():
            self.command += ['--' + flag, str(value)]
        with open(os.path.join(self.dir, 'stdout.txt'), 'w') as out, \
                open(os.path.join(self.dir, 'stderr.txt'), 'w') as err:
            # A session of its own: Ctrl-C reaches only us, and we stop the child ourselves.
            self.proc = subprocess.Popen(self.command, cwd=ROOT, stdout=out, stderr=err,
                                         start_new_session=True)
        self.start, self.end = time.monotonic(), None

    def stderr(self):
        return pathlib.Path(self.dir, 'stderr.txt').read_text(errors='replace')


def run_result(job, data_dir, build):
    """A finished run's result from its record; a CNN's also from its checkpoint, by ``build``."""
    cnn = job.run.kind == 'cnn'
    config, info = run_record.config_of(os.path.join(job.dir, 'ckpt') if cnn else job.dir)
    if info.get('status') != 'finished' or info.get('test_accuracy') is None:
        return {}
    result = {'test_accuracy': float('%g' % info['test_accuracy']), 'steps': info.get('steps'),
              'steps_per_s': info.get('steps_per_s'), 'train_time_s': info.get('wall_time_s')}
    config = dataclasses.asdict(config) if config else info.get('config')
    if isinstance(config, dict):
        result['config'] = config   # the run's resolved config, flags applied
    if cnn:
        try:
            result['recomputed_accuracy'] = checkpoints.checkpoint_test_accuracy(
                build, os.path.join(job.dir, 'ckpt'), data_dir)
        except Exception as e:  # a failed cross-check must not lose the run it checks
            result['recompute_error'] = '%s: %s' % (type(e).__name__, e)
            say('warning: %s seed %d: not recomputed from its checkpoint: %s'
                % (job.run.name, job.run.seed, result['recompute_error']))
    return result


def make_record(job, data_dir, build):
    run = job.run
    record = {
        'name': run.name, 'script': run.script, 'recipe': run.recipe, 'seed': run.seed,
        'quick': run.quick, 'status': 'ok', 'exit_code': job.proc.returncode,
        'test_accuracy': None, 'recomputed_accuracy': None, 'steps': None, 'steps_per_s': None,
        'train_time_s': None, 'wall_time_s': round(job.end - job.start, 2),
        'config': dict(recipe_config(run), **(QUICK[run.kind] if run.quick else {})),
        'recipe_config': recipe_config(run), 'tensorflow': TF_VERSION,
        'python': platform.python_version(), 'machine': machine.description(),
        'command': shlex.join(job.command), 'run_dir': os.path.join('runs', run.dir_name),
        'date': time.strftime('%Y-%m-%dT%H:%M:%S'),
    }
    result = run_result(job, data_dir, build) if job.proc.returncode == 0 else {}
    if not result:
        lines = job.stderr().strip().splitlines()
        return dict(record, status='failed', error=lines[-1] if job.proc.returncode and lines
                    else 'it left no run.json of a finished run')
    return dict(record, **result)


def estimate(run, records):
    """Expected wall time of ``run``: the mean of its recipe's recorded runs, or None."""
    times = [r['wall_time_s'] for r in records if r.get('status') == 'ok'
             and r.get('name') == run.name and r.get('quick') == run.quick
             and isinstance(r.get('wall_time_s'), (int, float))]
    return sum(times) / len(times) if times else None


class Runner:
    """Runs the plan's missing runs in worker threads, recording each as soon as it ends."""

    def __init__(self, todo, args, records, json_path, build):
        # Quick runs share two slots: the CNN runs (the plan's tail) first, softmax in the gaps.
        self.todo = list(reversed(todo)) if args.quick else list(todo)
        self.records, self.json_path, self.build = records, json_path, build
        self.out_dir, self.data_dir = os.path.abspath(args.out), os.path.abspath(args.data_dir)
        self.slots = 2 if args.quick else 1     # quick runs are not timed: two share 2 cores
        self.running, self.started, self.stopping = {}, 0, False
        self.lock = threading.Lock()          # starting a child, or stopping them all
        self.evaluating = threading.Lock()    # one checkpoint re-evaluation at a time

    def run(self):
        """0 once every run has ended; 128 + the signal's number after SIGINT or SIGTERM."""
        pool = concurrent.futures.ThreadPoolExecutor(self.slots)
        try:
            with signals.stop_signals_to(signals.interrupt):
                pending = {pool.submit(self.run_one, run) for run in self.todo}
                while pending:
                    done, pending = concurrent.futures.wait(
                        pending, 60, concurrent.futures.FIRST_COMPLETED)   # else a heartbeat
                    for future in done:
                        self.finish(*future.result())
                    if not done:
                        self.heartbeat()
        except BaseException as e:   # a failed record too: no child may outlive its report
            self.stop_all()
            if not isinstance(e, KeyboardInterrupt):
                raise
            return 128 + getattr(e, 'signum', signal.SIGINT)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return 0

    def run_one(self, run):
        """Start ``run``; record it when it ends (checkpoints re-evaluated one at a time)."""
        with self.lock:
            if self.stopping:
                return None, None
            self.started += 1
            job = self.running[self.started] = Job(self.started, run, self.out_dir, self.data_dir)
        this = estimate(run, self.records)
        self.say(job, 'started; this run %s, the report %s' % (
            '~' + progress.duration(this) if this is not None else 'not timed yet', self.eta()))
        job.proc.wait()
        job.end = time.monotonic()
        with self.lock:
            del self.running[job.index]
        with self.evaluating:
            if self.stopping:
                return None, None
            return job, make_record(job, self.data_dir, self.build)

    def stop_all(self):
        with self.lock:
            self.stopping = True
            jobs = list(self.running.values())
        for job in jobs:
            job.proc.terminate()    # deep_cnn then saves its step; SIGKILL if it lingers
            try:
                job.proc.wait(30)
            except subprocess.TimeoutExpired:
                job.proc.kill()
        print('\nreproduce: interrupted: stopped %s; %d run(s) recorded in %s' % (
            ', '.join('%s seed %d' % (j.run.name, j.run.seed) for j in jobs) or 'nothing',
            len(self.records), self.json_path), file=sys.stderr)

    def eta(self):
        """Time left for the whole report: the estimates of what is left, over the slots."""
        now = time.monotonic()
        left = [(estimate(r, self.records), 0) for r in self.todo[self.started:]] + [
            (estimate(j.run, self.records), now - j.start) for j in list(self.running.values())]
        known = [max(0.0, t - spent) for t, spent in left if t is not None]
        if not known:
            return 'not timed yet'
        unknown = len(left) - len(known)
        return '~' + progress.duration(sum(known) / self.slots) + (
            ' + %d run(s) not timed yet' % unknown if unknown else '')

    def say(self, job, text):
        print('[%d/%d] %s seed %d: %s' % (job.index, len(self.todo), job.run.name,
                                          job.run.seed, text), file=sys.stderr, flush=True)

    def finish(self, job, record):
        if not replace_record(self.records, record, job.run):
            say('%s seed %d failed; its earlier record stays' % (job.run.name, job.run.seed))
        rundir.write_json(self.json_path, {'runs': self.records})
        recomputed = record.get('recomputed_accuracy')
        result = ('FAILED (exit %s): %s; see %s' % (record['exit_code'], record['error'], job.dir)
                  if record['status'] != 'ok' else 'test accuracy %g' % record['test_accuracy']
                  + ('' if recomputed is None else ' (from the checkpoint: %g)' % recomputed))
        self.say(job, '%s, %s' % (result, progress.duration(record['wall_time_s'])))
        if job.proc.returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM):
            raise signals.Interrupted(job.proc.returncode - 128)  # a stopped run stops all

    def heartbeat(self):
        """A line per run after a minute without news: its time so far and its own ETA."""
        for job in list(self.running.values()):
            lines = re.findall(r'step \d+/\d+ .*ETA \S+', job.stderr())
            self.say(job, '%s so far; %s; the report %s' % (
                progress.duration(time.monotonic() - job.start),
                lines[-1].strip() if lines else 'no progress yet', self.eta()))
