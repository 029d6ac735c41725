"""reproduce.py: the verdict rule, the records it resumes from, and --quick end to end."""

import json
import pathlib
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, run_script

import reproduce
from deep_mnist import reproduction, report

REQUIRED = ('script', 'recipe', 'seed', 'test_accuracy', 'wall_time_s', 'recomputed_accuracy',
            'steps', 'steps_per_s', 'config', 'tensorflow', 'quick', 'command', 'date')
SUBSET = 'softmax/expert,cnn/single_conv'


# --- the verdict rule, on made-up numbers -------------------------------------------

@pytest.mark.parametrize('claim, threshold', [
    ('0.992', 0.9915), ('99.2%', 0.9915), ('99.24%', 0.99235), ('0.975', 0.9745),
    ('91%', 0.905), ('about 92%', 0.915), ('~0.98', 0.975), ('>= 0.9925', 0.9925),
    ('', None), ('no number', None)])
def test_claim_threshold(claim, threshold):
    assert report.claim_threshold(claim) == threshold


@pytest.mark.parametrize('claim, accuracies, expected', [
    ('0.992', [0.9921, 0.9918, 0.9925], 'met'),
    ('0.992', [0.9915], 'met'),                           # exactly on the threshold
    ('about 92%', [0.9151], 'met'),
    ('>= 0.9925', [0.9925, 0.9926, 0.9924], 'met'),
    ('99.24%', [0.9921, 0.9919, 0.9926], 'within the spread'),   # the best seed reaches it
    ('0.992', [0.9914, 0.9900, 0.9913], 'within the spread'),    # mean + 2 sd reaches it
    ('0.975', [0.9740, 0.9742, 0.9738], 'falls short'),
    ('0.992', [0.9900], 'falls short'),                   # one seed: no sd to lean on
    ('about 92%', [0.9149], 'falls short'),
    ('', [0.97, 0.96], 'reported'),
    ('0.992', [], 'not run'),
])
def test_verdict(claim, accuracies, expected):
    assert report.verdict(claim, accuracies) == expected


def test_quick_runs_are_not_checked():
    assert report.verdict('0.992', [0.35], quick=True) == 'quick: not checked'


def test_spread_uses_the_sample_standard_deviation():
    mean, sd, low, high = report.spread([0.99, 0.992, 0.994])
    assert (round(mean, 6), round(sd, 6), low, high) == (0.992, 0.002, 0.99, 0.994)
    assert report.spread([0.5])[1] is None


def test_every_recipe_has_a_claim_and_every_claim_names_a_recipe():
    assert set(reproduction.NAMES) == {'%s/%s' % (kind, recipe) for kind, table
                                       in reproduction.TABLES.items() for recipe in table}


# --- the command line ----------------------------------------------------------------

def test_flags_answer_without_importing_tensorflow():
    code = ('import sys, reproduce; reproduce.parse_args(["--recipes", "softmax,cnn/fast"]); '
            'print("tensorflow" in sys.modules)')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.strip() == 'False', proc.stderr
    help_ = run_script('reproduce.py', '--help', timeout=60)
    assert help_.returncode == 0
    assert 'softmax/expert' in help_.stdout and 'cnn/fast' in help_.stdout


@pytest.mark.parametrize('flags', [['--recipes', 'cnn/nope'], ['--recipes', 'expert'],
                                   ['--recipes', ','], ['--seeds', '0'],
                                   ['--rerun', '--report_only']])
def test_bad_flags_are_one_line_and_exit_2(flags, tmp_path):
    out = tmp_path / 'out'
    proc = run_script('reproduce.py', '--out', out, *flags, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ''
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith('reproduce.py: error: argument')
    assert not out.exists()  # nothing was done


def test_the_docstring_says_what_quick_does():
    assert reproduction.QUICK_SUMMARY == 'CNN recipes 20 steps, softmax 50'
    assert reproduction.QUICK_SUMMARY in ' '.join(reproduce.__doc__.split())


def test_recipe_groups_expand_in_step_order():
    args = reproduce.parse_args(['--recipes', 'cnn/fast,softmax'])
    assert args.recipes == ['softmax/expert', 'softmax/original', 'cnn/fast']
    assert args.seeds == 3
    assert reproduce.parse_args(['--quick']).seeds == 1


# --- records ---------------------------------------------------------------------------

def test_malformed_json_is_set_aside(tmp_path, capsys):
    path = tmp_path / 'reproduction.json'
    path.write_text('{"runs": [')
    assert reproduction.load_records(str(path)) == []
    assert not path.exists()
    assert (tmp_path / 'reproduction.json.bak').read_text() == '{"runs": ['
    assert len(capsys.readouterr().err.splitlines()) == 1


def made_up_record(name, seed, accuracy, quick=False):
    """A record as reproduce.py writes one, for a run that never happened."""
    run = reproduction.Run(name, seed, quick)
    return {'name': name, 'script': run.script, 'recipe': run.recipe, 'seed': seed,
            'quick': quick, 'status': 'ok', 'test_accuracy': accuracy,
            'recomputed_accuracy': accuracy if run.kind == 'cnn' else None, 'steps': 100,
            'steps_per_s': 40.0, 'train_time_s': 2.5, 'wall_time_s': 6.0 + seed,
            'config': {}, 'recipe_config': reproduction.recipe_config(run),
            'tensorflow': reproduction.TF_VERSION, 'command': 'made up',
            'run_dir': 'runs/' + run.dir_name, 'date': '2020-01-01T00:00:00'}


def test_a_record_goes_stale_with_tensorflow_or_the_recipe():
    run = reproduction.Run('cnn/expert', 1, False)
    record = made_up_record('cnn/expert', 1, 0.992)
    tf_version = record['tensorflow']
    assert reproduction.stale_reason(record, run, tf_version) is None
    assert 'TensorFlow 0.0' in reproduction.stale_reason(dict(record, tensorflow='0.0'), run,
                                                      tf_version)
    changed = dict(record, recipe_config=dict(record['recipe_config'], learning_rate=1.0))
    assert reproduction.stale_reason(changed, run, tf_version) == 'the recipe changed since'
    assert reproduction.current_record(reproduction.Run('cnn/expert', 1, True), [record],
                                    tf_version) is None  # --quick is part of the key


def test_rerun_runs_what_is_recorded_and_a_failure_keeps_the_good_record(capsys):
    run = reproduction.Run('cnn/expert', 1, False)
    good = made_up_record('cnn/expert', 1, 0.992)
    tf_version = good['tensorflow']
    assert reproduction.runs_to_do([run], [good], tf_version) == []
    assert reproduction.runs_to_do([run], [good], tf_version, rerun=True) == [run]
    assert 'rerunning cnn/expert seed 1: --rerun' in capsys.readouterr().err
    records = [good]
    failed = dict(good, status='failed', test_accuracy=None)
    assert not reproduction.replace_record(records, failed, run, tf_version)
    assert records == [good]
    better = dict(good, test_accuracy=0.9931)
    assert reproduction.replace_record(records, better, run, tf_version)
    assert records == [better]
    stale = [dict(good, tensorflow='0.0.1')]    # a failure does replace a stale record
    assert reproduction.replace_record(stale, failed, run, tf_version) and stale == [failed]


def test_a_field_added_since_a_record_changes_it_only_when_not_at_its_default():
    """A record written before Config had weight_seed: still current for expert (which
    leaves it at its default), stale for single_conv (which sets it)."""
    for name, stale in (('cnn/expert', None), ('cnn/single_conv', 'the recipe changed since')):
        run = reproduction.Run(name, 1, False)
        record = made_up_record(name, 1, 0.97)
        del record['recipe_config']['weight_seed']
        assert reproduction.stale_reason(record, run, record['tensorflow']) == stale


def test_a_result_comes_from_the_record_not_the_terminal(tmp_path, capsys):
    """A softmax run's record (run.json's fields) is what counts, read through the
    run.json schema: a malformed field is dropped with a warning, and a run without a
    finished record has no result, whatever its stderr says."""
    job = type('Job', (), {'dir': str(tmp_path), 'run': reproduction.Run('softmax/expert', 1,
                                                                           True)})()
    (tmp_path / 'stderr.txt').write_text('softmax_baseline: recipe expert (text 003, expect '
                                         'about 92%): 999 steps x 100, GD 0.5, 9.9 s, 1 steps/s\n')
    assert reproduction.run_result(job, None, None) == {}
    record = {'script': 'softmax_baseline.py', 'recipe': 'expert', 'seed': 1, 'status': 'finished',
              'config': {'name': 'expert', 'steps': 50}, 'steps': 50,
              'test_accuracy': 0.91951234, 'wall_time_s': 0.4, 'steps_per_s': 'fast'}
    (tmp_path / 'run.json').write_text(json.dumps(record))
    assert reproduction.run_result(job, None, None) == {
        'test_accuracy': 0.919512, 'steps': 50, 'steps_per_s': None, 'train_time_s': 0.4,
        'config': {'name': 'expert', 'steps': 50}}
    assert 'steps_per_s' in capsys.readouterr().err
    (tmp_path / 'run.json').write_text(json.dumps(dict(record, status='nan')))
    assert reproduction.run_result(job, None, None) == {}


def test_report_from_recorded_runs(tmp_path, data_dir):
    """Everything already recorded: nothing runs, and the report states the verdicts."""
    records = [made_up_record('cnn/expert', s, a) for s, a in ((1, 0.9925), (2, 0.9918),
                                                                 (3, 0.9921))]
    records += [made_up_record('cnn/epochs', s, 0.97) for s in (1, 2, 3)]
    (tmp_path / 'reproduction.json').write_text(json.dumps({'runs': records}))
    proc = run_script('reproduce.py', '--out', tmp_path, '--data_dir', data_dir,
                      '--recipes', 'cnn/expert,cnn/epochs', timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'skipped 6 run(s)' in proc.stderr
    markdown = (tmp_path / 'REPRODUCTION.md').read_text()
    expert = next(line for line in markdown.splitlines() if line.startswith('| 4 | `cnn/expert`'))
    assert "003 l.123: '99.2 %'" in expert
    assert '| 0.9921 | 0.0004 | 0.9918-0.9925 | yes |' in expert
    assert expert.endswith('| met |')
    assert '| 7 | `cnn/epochs` |' in markdown and '| reported |' in markdown
    assert json.loads((tmp_path / 'reproduction.json').read_text())['runs'] == records


def test_report_only_runs_nothing_and_shows_the_seeds_recorded(tmp_path, data_dir):
    records = [made_up_record('cnn/expert', s, 0.992) for s in (1, 2)]
    (tmp_path / 'reproduction.json').write_text(json.dumps({'runs': records}))
    proc = run_script('reproduce.py', '--out', tmp_path, '--data_dir', data_dir, '--seeds', 5,
                      '--recipes', 'cnn/expert,cnn/fast', '--report_only', timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'started' not in proc.stderr and not (tmp_path / 'runs').exists()
    markdown = (tmp_path / 'REPRODUCTION.md').read_text()
    expert = next(line for line in markdown.splitlines() if '`cnn/expert`' in line)
    assert '| 2 | 1, 2 |' in expert
    assert '| not run |' in next(line for line in markdown.splitlines() if '`cnn/fast`' in line)


# --- end to end (long: real runs) ------------------------------------------------------

@pytest.fixture(scope='module')
def quick_subset(tmp_path_factory, data_dir):
    """reproduce.py --quick over a softmax and a CNN recipe, one seed: (out dir, process)."""
    out = tmp_path_factory.mktemp('reproduction')
    proc = run_script('reproduce.py', '--quick', '--recipes', SUBSET, '--out', out,
                      '--data_dir', data_dir, timeout=600)
    return out, proc


def load_runs(out):
    return json.loads((out / 'reproduction.json').read_text())['runs']


@pytest.mark.long
def test_quick_writes_the_three_files(quick_subset):
    out, proc = quick_subset
    assert proc.returncode == 0, proc.stderr
    assert 'Traceback' not in proc.stderr
    runs = {r['name']: r for r in load_runs(out)}
    assert set(runs) == {'softmax/expert', 'cnn/single_conv'}
    for record in runs.values():
        assert all(key in record for key in REQUIRED), record
        assert record['quick'] is True and record['seed'] == 1 and record['status'] == 'ok'
        assert 0 < record['test_accuracy'] <= 1 and record['wall_time_s'] > 0
        assert record['steps_per_s'] > 0
    assert runs['softmax/expert']['steps'] == 50
    assert runs['softmax/expert']['recomputed_accuracy'] is None
    # Each script handed its result over as a record: softmax through --record.
    softmax = runs['softmax/expert']
    handed = json.loads((out / softmax['run_dir'] / 'run.json').read_text())
    assert '--record' in softmax['command']
    assert (handed['test_accuracy'], handed['steps_per_s'], handed['wall_time_s']) == (
        softmax['test_accuracy'], softmax['steps_per_s'], softmax['train_time_s'])
    assert softmax['config']['steps'] == 50
    cnn = runs['cnn/single_conv']
    assert cnn['steps'] == 20 and cnn['config']['steps'] == 20
    run_json = json.loads((out / cnn['run_dir'] / 'ckpt' / 'run.json').read_text())
    assert (run_json['steps_per_s'], run_json['wall_time_s']) == (cnn['steps_per_s'],
                                                                   cnn['train_time_s'])
    assert cnn['recomputed_accuracy'] == pytest.approx(cnn['test_accuracy'], abs=5e-5)
    assert '--fresh' in cnn['command'] and '--steps 20' in cnn['command']
    assert (out / 'runs' / 'cnn-single_conv-s1-quick' / 'stdout.txt').read_text().endswith(
        'test accuracy %g\n' % cnn['test_accuracy'])

    png = (out / 'reproduction.png').read_bytes()
    assert png.startswith(b'\x89PNG\r\n\x1a\n') and len(png) > 10_000

    markdown = (out / 'REPRODUCTION.md').read_text()
    for row in ('| 1 | `softmax/expert` |', '| 3 | `cnn/single_conv` |'):
        line = next(line for line in markdown.splitlines() if line.startswith(row))
        assert line.endswith('| quick: not checked |')
    assert 'python reproduce.py --quick' in markdown and '## Notes' in markdown


@pytest.mark.long
def test_rerun_skips_what_is_recorded_and_reruns_what_is_stale(quick_subset, tmp_path, data_dir):
    out = tmp_path / 'out'
    shutil.copytree(quick_subset[0], out)
    before = load_runs(out)
    args = ('reproduce.py', '--quick', '--recipes', SUBSET, '--out', out, '--data_dir', data_dir)

    again = run_script(*args, timeout=300)
    assert again.returncode == 0, again.stderr
    assert 'skipped 2 run(s) already recorded' in again.stderr
    assert load_runs(out) == before

    stale = [dict(r, tensorflow='0.0.1') if r['script'] == 'softmax_baseline.py' else r
             for r in before]
    (out / 'reproduction.json').write_text(json.dumps({'runs': stale}))
    third = run_script(*args, timeout=300)
    assert third.returncode == 0, third.stderr
    assert 'rerunning softmax/expert seed 1: recorded with TensorFlow 0.0.1' in third.stderr
    assert 'skipped 1 run(s) already recorded: cnn/single_conv seed 1' in third.stderr
    after = {r['name']: r for r in load_runs(out)}
    assert len(after) == 2
    assert after['cnn/single_conv'] == next(r for r in before if r['name'] == 'cnn/single_conv')
    assert after['softmax/expert']['tensorflow'] == reproduction.TF_VERSION
    old = next(r for r in before if r['name'] == 'softmax/expert')
    assert after['softmax/expert']['date'] > old['date']  # a new run, seconds later


@pytest.mark.long
@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_stops_the_child_and_keeps_the_report(quick_subset, tmp_path, data_dir, signum):
    """Ctrl-C, or a kill: even where the shell left SIGINT ignored (a background job)."""
    out = tmp_path / 'out'
    shutil.copytree(quick_subset[0], out)
    before = load_runs(out)
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / 'reproduce.py'), '--quick', '--out', str(out),
         '--data_dir', data_dir, '--recipes', SUBSET + ',cnn/expert'],
        cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    for line in proc.stderr:  # wait for the child to start
        if line.startswith('[1/1] cnn/expert'):
            break
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert 'interrupted: stopped cnn/expert seed 1' in err
    assert 'Traceback' not in err
    assert load_runs(out) == before
    markdown = (out / 'REPRODUCTION.md').read_text()
    assert '| `cnn/expert` |' in markdown and '| not run |' in markdown
    assert not children_writing_to(out)


def children_writing_to(out):
    """The pids of live processes whose command line names ``out`` (Linux; else [])."""
    pids = []
    for proc_dir in pathlib.Path('/proc').glob('[0-9]*'):
        try:
            if str(out).encode() in (proc_dir / 'cmdline').read_bytes():
                pids.append(int(proc_dir.name))
        except OSError:  # it ended while we looked
            pass
    return pids
