"""softmax_baseline.py from the command line: accuracy floors, seeding, flag errors.

The training runs call its main(argv) in this process (conftest.call_main; the seed-7
expert run is conftest's session-wide ``softmax_run``); the flag errors run
``python softmax_baseline.py`` as a new process, where the claim is about its exit
status and that it answers before importing TensorFlow."""

import json
import re
import subprocess
import sys

import pytest

import softmax_baseline
from conftest import DATA_DIR, REPO_ROOT, call_main, run_script
from deep_mnist import record


def run(*args, timeout=300):
    """python softmax_baseline.py with these flags, a new process."""
    return run_script('softmax_baseline.py', *args, timeout=timeout)


def train(*args):
    """softmax_baseline.main() with these flags, here."""
    return call_main(softmax_baseline.main, *args)


def accuracy_of(proc):
    """The accuracy on the last stdout line, checking the run went well."""
    assert proc.returncode == 0, proc.stderr
    assert 'Traceback' not in proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout  # stdout is the tutorial's output only
    match = re.fullmatch(r'test accuracy (0\.\d+|1)', lines[-1])
    assert match, lines[-1]
    return float(match.group(1))


@pytest.fixture
def record_dir(softmax_run):
    """Where the seed-7 expert run wrote its --record, as run.json."""
    return softmax_run[0]


@pytest.fixture
def expert_seed7(softmax_run):
    return softmax_run[1]


def test_expert_reaches_the_tutorials_accuracy(expert_seed7):
    assert accuracy_of(expert_seed7) >= 0.91  # 003: "about 92 %"


def test_original_reaches_the_older_texts_accuracy():
    proc = train('--data_dir', DATA_DIR, '--recipe', 'original', '--seed', '7')
    assert accuracy_of(proc) >= 0.89  # 000: "91 %"


def test_same_seed_same_accuracy(expert_seed7):
    again = train('--data_dir', DATA_DIR, '--seed', '7')
    accuracy_of(again)
    assert again.stdout.splitlines()[-1] == expert_seed7.stdout.splitlines()[-1]


def test_steps_per_second_on_stderr(expert_seed7):
    assert re.search(r'^softmax_baseline: recipe expert .* steps/s$', expert_seed7.stderr,
                     re.MULTILINE)


def test_record_is_the_printed_result_in_run_jsons_fields(expert_seed7, record_dir, capsys):
    accuracy = accuracy_of(expert_seed7)
    raw = json.loads((record_dir / 'run.json').read_text())
    # Read as reproduce.py reads it: through run.json's schema, no field refused.
    handed = record.read_run_json(str(record_dir))
    assert capsys.readouterr().err == '' and handed == raw
    assert (handed['script'], handed['recipe'], handed['seed']) == ('softmax_baseline.py',
                                                                    'expert', 7)
    assert handed['status'] == 'finished' and handed['test_accuracy'] == accuracy
    assert handed['steps'] == handed['config']['steps'] == 1000
    assert handed['config']['learning_rate'] == 0.5 and handed['config']['batch_size'] == 100
    assert handed['wall_time_s'] > 0
    assert handed['steps_per_s'] == pytest.approx(1000 / handed['wall_time_s'], rel=0.01)
    assert re.fullmatch(r'\d+\.\d+\.\d+\S*', handed['tensorflow'])
    assert not list(record_dir.glob('*.tmp'))   # written atomically, nothing left over


def test_diverged_training_is_one_error_line(tmp_path):
    # The hand-written log(softmax) hits log(0) once the steps are far too large.
    proc = train('--data_dir', DATA_DIR, '--recipe', 'original', '--learning_rate', '1',
                 '--steps', '20', '--seed', '7', '--record', tmp_path / 'run.json')
    assert proc.returncode == 1
    assert proc.stdout == ''
    assert 'Traceback' not in proc.stderr
    assert proc.stderr.splitlines()[-1].startswith('error: training diverged')
    assert list(tmp_path.iterdir()) == []   # a record only for a run that finished


@pytest.mark.parametrize('args', [
    ['--steps', '-1'],
    ['--batch_size', '0'],
    ['--learning_rate', '0'],
    ['--learning_rate', 'abc'],
    ['--learning_rate', 'nan'],
    ['--seed', '-1'],
    ['--recipe', 'nope'],
    ['--no_such_flag'],
    ['--record', '/no/such/directory/run.json'],
])
def test_bad_flag_is_one_line_and_exit_2(args):
    proc = run(*args, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ''
    # Exactly one line: TF was not imported, or its log lines would be here too.
    assert len(proc.stderr.splitlines()) == 1, proc.stderr
    assert proc.stderr.startswith('softmax_baseline.py: error: ')


def test_bad_flag_answers_before_importing_tensorflow():
    code = ('import sys, softmax_baseline\n'
            'try:\n'
            '    softmax_baseline.main(["--steps", "-1"])\n'
            'except SystemExit as e:\n'
            '    print(e.code, "tensorflow" in sys.modules)\n')
    proc = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.split() == ['2', 'False']


def test_unusable_data_dir_is_one_error_line(tmp_path):
    not_a_dir = tmp_path / 'file'
    not_a_dir.write_text('')
    proc = run('--data_dir', str(not_a_dir), timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: ')
    assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_help_shows_the_recipe_defaults():
    proc = run('--help', timeout=60)
    assert proc.returncode == 0
    help_text = ' '.join(proc.stdout.split())
    for default in ('expert 1000, original 1000', 'expert 100, original 50',
                    'expert 0.5, original 0.01'):
        assert default in help_text
