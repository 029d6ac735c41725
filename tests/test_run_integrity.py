"""A training run never loses its work: signals at the end, damaged, shared or full
checkpoint directories, malformed run.json, bad paths, resumes that change the math.

Most runs here call deep_cnn.main() in-process (no TensorFlow start-up per run) for a
few dozen steps, most from a copy of one 30-step run trained once for the module; a new
process where the claim is about one (signals, locks, a script's exit status). The
faults are real: real signals, real damaged files, a real full
file system (a small tmpfs: as root, through sudo, or in a user namespace).
"""

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import deep_cnn
import mnist_data
import visualize_filters
from deep_mnist import checkpoints, rundir, tfstart
from conftest import REPO_ROOT, call_main, handles_sigterm_soon, run_script, start_script_until

# Every test here trains or runs a script.
# The runs called here test a short test split (conftest's short_test_split): these tests
# are about a run's files, signals and faults, not its accuracy.
pytestmark = [pytest.mark.long, pytest.mark.usefixtures('short_test_split')]


def cnn(data_dir, ckpt, *args, recipe='expert'):
    """deep_cnn.main() for a short, quiet run into ckpt (logs beside it); the exit code."""
    return deep_cnn.main(['--recipe', recipe, '--data_dir', data_dir,
                          '--checkpoint_dir', str(ckpt), '--log_dir', str(ckpt) + '-logs',
                          '--log_every', '0', '--summary_every', '0', *map(str, args)])


def steps_in(ckpt):
    return [step for step, _ in checkpoints.checkpoints(str(ckpt))]


def run_json(ckpt):
    return json.loads((ckpt / 'run.json').read_text())


def error_lines(text):
    return [line for line in text.splitlines() if line.startswith('error:')]


@pytest.fixture(scope='module')
def trained_once(data_dir, tmp_path_factory):
    """The checkpoints of 30 expert steps (seed 3), saved every 10: trained once."""
    ckpt = tmp_path_factory.mktemp('trained') / 'ckpt'
    assert cnn(data_dir, ckpt, '--steps', 30, '--checkpoint_every', 10, '--seed', 3) == 0
    assert steps_in(ckpt) == [10, 20, 30]
    return ckpt


@pytest.fixture
def trained(trained_once, tmp_path):
    """A copy, this test's own, of the directory of 30 expert steps saved every 10."""
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(trained_once, ckpt)
    return ckpt


# --- signals while the run finishes ----------------------------------------------

def interrupt_first_call(monkeypatch, owner, name, when=lambda *a, **k: True):
    """Make owner.name send this process a real SIGINT just before its first call
    for which when(...) holds, then do its real work."""
    real = getattr(owner, name)
    sent = []

    def wrapper(*args, **kwargs):
        if not sent and when(*args, **kwargs):
            sent.append(True)
            os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)
    monkeypatch.setattr(owner, name, wrapper)
    return sent


def test_sigint_during_the_final_save_keeps_a_complete_run(data_dir, tmp_path, monkeypatch,
                                                          capsys):
    before = signal.getsignal(signal.SIGINT)
    sent = interrupt_first_call(monkeypatch, checkpoints.Checkpoints, 'save')
    ckpt = tmp_path / 'ckpt'
    assert cnn(data_dir, ckpt, '--steps', 25, '--checkpoint_every', 0) == 130
    assert sent
    err = capsys.readouterr().err
    assert err.count('SIGINT: stopped after step 25; saved') == 1, err
    assert steps_in(ckpt) == [25]
    record = run_json(ckpt)   # all 25 steps trained and saved; the test pass skipped
    assert record['status'] == 'interrupted' and record['steps'] == 25
    assert record['test_accuracy'] is None and record['checkpoint'] == 'model.ckpt-25'
    assert not [n for n in os.listdir(ckpt) if 'tempstate' in n or n.endswith('.tmp')]
    # In-process callers get their own handlers back.
    assert signal.getsignal(signal.SIGINT) is before


def test_sigint_during_the_test_pass_keeps_the_saved_run(data_dir, tmp_path, monkeypatch,
                                                        capsys):
    sent = interrupt_first_call(monkeypatch, deep_cnn, 'evaluate',
                                lambda *a, stop=None, **k: stop is not None)
    ckpt = tmp_path / 'ckpt'
    assert cnn(data_dir, ckpt, '--steps', 15) == 130
    assert sent
    out, err = capsys.readouterr()
    assert 'test accuracy' not in out and 'SIGINT' in err
    assert steps_in(ckpt) == [15] and run_json(ckpt)['steps'] == 15
    # The rerun has nothing left to train and tests the saved checkpoint.
    assert cnn(data_dir, ckpt, '--steps', 15) == 0
    out, err = capsys.readouterr()
    assert 'nothing to train' in err and out.startswith('test accuracy ')
    # ... and records the result that the interrupted run lacked.
    record = run_json(ckpt)
    assert '%g' % record['test_accuracy'] == out.split()[-1]
    assert record['status'] == 'finished'


# --- the checkpoint directory -----------------------------------------------------

def test_a_missing_state_file_resumes_from_the_checkpoint_files(data_dir, trained, capsys):
    os.remove(trained / 'checkpoint')
    assert cnn(data_dir, trained, '--steps', 35, '--checkpoint_every', 10) == 0
    assert 'resuming from' in capsys.readouterr().err
    assert steps_in(trained) == [20, 30, 35]
    assert run_json(trained)['segments'][-1]['from'] == 30


@pytest.mark.parametrize('damage', ['flipped', 'truncated'])
def test_a_damaged_newest_checkpoint_falls_back_to_the_newest_intact(data_dir, trained, capsys,
                                                                     damage):
    data = trained / 'model.ckpt-30.data-00000-of-00001'
    blob = bytearray(data.read_bytes())
    if damage == 'flipped':
        blob[len(blob) // 2] ^= 0xFF
    else:
        del blob[len(blob) // 3:]
    data.write_bytes(bytes(blob))
    assert cnn(data_dir, trained, '--steps', 40, '--checkpoint_every', 10) == 0
    err = capsys.readouterr().err
    assert 'skipped model.ckpt-30: damaged' in err and 'resuming from' in err
    # The reason in plain words, not a fragment of TensorFlow's message.
    reason = err.split('damaged (', 1)[1].split(');', 1)[0]
    assert reason in ('checksum mismatch: the file is damaged', 'the file is truncated'), err
    assert '--fresh' not in err
    segments = run_json(trained)['segments']
    assert segments[-1]['from'] == 20
    # The steps 20-30 redone: the first segment now ends where the second begins.
    assert [(s['from'], s['to']) for s in segments] == [(0, 20), (20, 40)]
    assert steps_in(trained) == [20, 30, 40]
    assert (trained / 'damaged' / data.name).exists()   # moved aside, not deleted


def test_the_visualiser_says_a_truncated_checkpoint_is_unreadable(data_dir, trained, tmp_path):
    index = trained / 'model.ckpt-30.index'
    index.write_bytes(index.read_bytes()[:20])
    proc = call_main(visualize_filters.main, '--checkpoint', index, '--data_dir', data_dir,
                     '--output_dir', tmp_path / 'fig')
    assert proc.returncode == 1
    assert len(proc.stderr.strip().splitlines()) == 1 and 'Traceback' not in proc.stderr
    assert 'model.ckpt-30' in proc.stderr


def test_a_second_run_in_the_same_directory_is_refused(data_dir, tmp_path):
    ckpt = tmp_path / 'ckpt'
    with rundir.locked(str(ckpt)):
        proc = run_script('deep_cnn.py', '--data_dir', data_dir, '--checkpoint_dir', ckpt,
                          '--steps', 5, timeout=120)
    assert proc.returncode == 1
    assert error_lines(proc.stderr) == proc.stderr.strip().splitlines()
    assert 'in use by another run (pid %d)' % os.getpid() in proc.stderr
    assert steps_in(ckpt) == []


def test_a_killed_run_leaves_no_stuck_lock(tmp_path):
    ckpt = tmp_path / 'ckpt'
    holder = subprocess.Popen(
        [sys.executable, '-c', 'from deep_mnist import rundir; import time\nwith rundir.locked(%r):\n'
         '    print("locked", flush=True)\n    time.sleep(60)' % str(ckpt)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(rundir.RunError):
        with rundir.locked(str(ckpt)):
            pass
    holder.kill()
    holder.wait()
    with rundir.locked(str(ckpt)):
        pass


def test_checkpoints_stay_bounded_and_partial_files_are_cleaned(data_dir, trained):
    leftovers = ['model.ckpt-41.data-00000-of-00001.tempstate123', 'run.json.tmp',
                 'model.ckpt-33.data-00000-of-00001']   # a .data shard without its .index
    for name in leftovers:
        (trained / name).write_bytes(b'partial')
    for steps in (45, 60):
        assert cnn(data_dir, trained, '--steps', steps, '--checkpoint_every', 5) == 0
    assert steps_in(trained) == [50, 55, 60]
    names = os.listdir(trained)
    assert not set(leftovers) & set(names)
    assert sorted(n for n in names if n.endswith('.index')) == [
        'model.ckpt-50.index', 'model.ckpt-55.index', 'model.ckpt-60.index']


def test_milestone_checkpoints_are_kept(data_dir, tmp_path, monkeypatch):
    row = deep_cnn.RECIPES['expert']
    monkeypatch.setitem(deep_cnn.RECIPES, 'expert', dataclasses.replace(row, keep_every=10))
    ckpt = tmp_path / 'ckpt'
    assert cnn(data_dir, ckpt, '--steps', 30, '--checkpoint_every', 5) == 0
    assert steps_in(ckpt) == [10, 20, 25, 30]


def test_the_last_step_is_saved_once(data_dir, tmp_path, monkeypatch):
    tf = tfstart.import_tf()
    saved = []
    real = tf.train.Saver.save

    def counting(self, sess, prefix, global_step=None, **kwargs):
        if 'snapshots' not in str(prefix):     # the weight-only snapshots: test_snapshots.py
            saved.append(global_step)
        return real(self, sess, prefix, global_step=global_step, **kwargs)
    monkeypatch.setattr(tf.train.Saver, 'save', counting)
    assert cnn(data_dir, tmp_path / 'ckpt', '--steps', 20, '--checkpoint_every', 10) == 0
    assert saved == [10, 20]


# --- full disks and bad paths -----------------------------------------------------

# Set in a child pytest that runs one test as root of a user namespace (small_tmpfs).
IN_NAMESPACE = 'DEEP_MNIST_TEST_IN_USER_NAMESPACE'


def as_root(*command):
    """Whether ``command`` ran well as root: directly where we are root, else through
    passwordless sudo (GitHub's runners)."""
    try:
        return subprocess.run((['sudo', '-n'] if os.geteuid() else []) + list(command),
                              capture_output=True).returncode == 0
    except OSError:     # no sudo, or not ours to run
        return False


@pytest.fixture
def small_tmpfs(tmp_path, request):
    """An 80 MiB tmpfs: room for one expert checkpoint of ~39 MB and its run's snapshots
    (13 MB each), not for two checkpoints. Where this user may not mount one, the whole
    test runs in a child pytest as root of a user namespace (unshare -rm), which may; then
    this yields None and the test has passed there."""
    mount = tmp_path / 'tmpfs'
    mount.mkdir()
    options = 'size=80m,uid=%d,gid=%d' % (os.getuid(), os.getgid())
    if as_root('mount', '-t', 'tmpfs', '-o', options, 'tmpfs', str(mount)):
        yield mount
        assert as_root('umount', str(mount))
        return
    if os.environ.get(IN_NAMESPACE) or not shutil.which('unshare') or subprocess.run(
            ['unshare', '-rm', 'true'], capture_output=True).returncode != 0:
        pytest.skip('cannot mount a tmpfs here: neither root, sudo nor unshare -rm')
    child = subprocess.run(
        ['unshare', '-rm', sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
         '--basetemp', str(tmp_path / 'namespace'), request.node.nodeid], cwd=REPO_ROOT, env=dict(os.environ, **{IN_NAMESPACE: '1'}),
        capture_output=True, text=True, timeout=600)
    assert child.returncode == 0 and '1 passed in' in child.stdout, child.stdout[-4000:]
    yield None


def test_a_full_disk_is_one_line_and_keeps_the_previous_checkpoint(data_dir, small_tmpfs,
                                                                   capsys):
    if small_tmpfs is None:
        return      # passed in a user namespace
    ckpt = small_tmpfs / 'ckpt'
    assert cnn(data_dir, ckpt, '--steps', 20, '--checkpoint_every', 10) == 1
    err = capsys.readouterr().err
    assert len(error_lines(err)) == 1 and 'cannot save a checkpoint' in err, err
    assert 'model.ckpt-10' in err and 'is intact' in err
    assert steps_in(ckpt) == [10]
    assert not [n for n in os.listdir(ckpt) if 'tempstate' in n or '-20.' in n]
    assert run_json(ckpt)['steps'] == 10
    # Nothing permanent: with room again, the same command resumes and finishes.
    os.remove(ckpt / 'model.ckpt-10.data-00000-of-00001')
    os.remove(ckpt / 'model.ckpt-10.index')
    assert cnn(data_dir, ckpt, '--steps', 10, '--checkpoint_every', 10) == 0


def test_a_read_only_checkpoint_directory_is_one_line(data_dir, small_tmpfs):
    if small_tmpfs is None:
        return      # passed in a user namespace
    assert as_root('mount', '-o', 'remount,ro,bind', str(small_tmpfs))   # bind: also in a user namespace
    proc = run_script('deep_cnn.py', '--data_dir', data_dir, '--steps', 5,
                      '--checkpoint_dir', small_tmpfs / 'ckpt', timeout=120)
    assert proc.returncode == 1
    assert error_lines(proc.stderr) == proc.stderr.strip().splitlines()
    assert 'Read-only file system' in proc.stderr


@pytest.mark.parametrize('script, flag', [
    ('deep_cnn.py', '--data_dir'), ('deep_cnn.py', '--checkpoint_dir'),
    ('mnist_data.py', '--data_dir'), ('softmax_baseline.py', '--data_dir')])
def test_a_file_where_a_directory_should_be_is_one_line(data_dir, tmp_path, script, flag):
    a_file = tmp_path / 'README.md'
    a_file.write_text('not a directory\n')
    args = [flag, a_file]
    if script == 'deep_cnn.py' and flag == '--checkpoint_dir':
        args += ['--data_dir', data_dir]
    proc = run_script(script, *args, timeout=120)
    assert proc.returncode == 1
    assert error_lines(proc.stderr) == proc.stderr.strip().splitlines(), proc.stderr
    assert str(a_file) in proc.stderr


# --- run.json -----------------------------------------------------------------------

def test_a_no_op_rerun_keeps_the_finished_runs_record(data_dir, trained, capsys):
    before = run_json(trained)
    assert cnn(data_dir, trained, '--steps', 30) == 0
    assert cnn(data_dir, trained, '--steps', 20) == 0
    out, err = capsys.readouterr()
    assert err.count('nothing to train') == 2 and out.count('test accuracy') == 2
    assert 'resuming' not in err        # nothing resumes: the checkpoint is only tested
    assert run_json(trained) == before
    assert before['wall_time_s'] > 0


def test_history_survives_a_killed_run(data_dir, tmp_path, capsys):
    ckpt = tmp_path / 'ckpt'
    proc = start_script_until('deep_cnn.py', '--data_dir', data_dir, '--checkpoint_dir', ckpt,
                              '--log_dir', tmp_path / 'logs', '--steps', 10000, '--log_every', 5,
                              '--checkpoint_every', 10, line='step 25,')
    proc.kill()
    proc.communicate()
    assert run_json(ckpt)['status'] == 'running' and steps_in(ckpt)[-1] >= 20
    assert cnn(data_dir, ckpt, '--steps', 40, '--log_every', 5, '--checkpoint_every', 10) == 0
    assert [h[0] for h in run_json(ckpt)['history']] == list(range(0, 40, 5))


# '[]', 'null' and other malformed fields: tests/test_record.py, the reader all of these use.
@pytest.mark.parametrize('content', ['not json', '{"history": "oops"}', '{"config": 5}',
                                     '{"config": {"recipe": "expert", "weight_seed": "x"}}'])
def test_a_malformed_run_json_is_one_warning_and_treated_as_absent(data_dir, trained, capsys,
                                                                   content, tmp_path):
    (trained / 'run.json').write_text(content)
    assert cnn(data_dir, trained, '--steps', 35) == 0
    err = capsys.readouterr().err
    assert len([l for l in err.splitlines() if l.startswith('warning:')]) == 1, err
    assert run_json(trained)['steps'] == 35
    (trained / 'run.json').write_text(content)
    proc = call_main(visualize_filters.main, '--checkpoint_dir', trained, '--data_dir',
                     data_dir, '--output_dir', tmp_path / 'fig', '--misclassified', 0)
    assert proc.returncode == 0 and 'Traceback' not in proc.stderr, proc.stderr


# --- resuming with other settings ------------------------------------------------------

def test_a_resume_with_another_recipes_checkpoints_is_refused(data_dir, trained, capsys):
    assert cnn(data_dir, trained, '--steps', 40, recipe='original') == 1
    err = capsys.readouterr().err
    assert error_lines(err) == err.strip().splitlines()
    assert 'run of recipe expert' in err and '--recipe expert' in err and '--fresh' not in err
    assert steps_in(trained) == [10, 20, 30]


def test_a_resume_that_changes_the_math_says_so_and_records_it(data_dir, trained, capsys):
    assert cnn(data_dir, trained, '--steps', 40, '--batch_size', 64, '--seed', 3,
               '--checkpoint_every', 10) == 0
    err = capsys.readouterr().err
    assert ('resuming with batch_size 64 (the run so far used 50); this changes the training '
            'from here on') in err
    record = run_json(trained)
    assert record['config']['batch_size'] == 64
    assert record['segments'][-1]['changed'] == {'batch_size': [50, 64], 'steps': [30, 40]}


def test_a_resume_that_moves_the_schedules_horizon_says_so(data_dir, tmp_path, capsys):
    ckpt = tmp_path / 'ckpt'
    assert cnn(data_dir, ckpt, '--steps', 10, recipe='fast') == 0
    assert cnn(data_dir, ckpt, '--steps', 20, recipe='fast') == 0
    assert ('resuming with steps 20 (the run so far used 10); this changes the training from '
            'here on') in capsys.readouterr().err
    assert steps_in(ckpt) == [10, 20]


def test_a_resume_with_other_reporting_says_so(data_dir, trained, capsys):
    assert cnn(data_dir, trained, '--steps', 35, '--log_every', 5) == 0
    err = capsys.readouterr().err
    assert 'resuming with log_every 5 (the run so far used 0)' in err


def test_steps_0_without_a_checkpoint_is_refused(data_dir, tmp_path, capsys):
    assert cnn(data_dir, tmp_path / 'ckpt', '--steps', 0) == 1
    out, err = capsys.readouterr()
    assert out == '' and 'nothing to train' in err


def test_an_epochs_run_resumed_mid_epoch_prints_whole_epoch_losses(data_dir, tmp_path, capsys):
    full = mnist_data.read_data_sets(data_dir, one_hot=True)

    def epoch_lines(*steps_of_each_run, name):
        for steps in steps_of_each_run:
            # 256 training images in batches of 128: 2 steps an epoch.
            small = mnist_data.Datasets(
                train=mnist_data.DataSet(full.train.images[:256].reshape(-1, 28, 28, 1) * 255,
                                         full.train.labels[:256], one_hot=True, seed=0),
                validation=full.validation, test=full.test)
            config = deep_cnn.resolve('epochs', steps=steps, seed=5, data_dir=data_dir,
                                      checkpoint_dir=str(tmp_path / name),
                                      log_dir=str(tmp_path / name / 'logs'))
            assert deep_cnn.run(config, mnist=small) == 0
        return [l for l in capsys.readouterr().out.splitlines() if l.startswith('Step ')]
    whole = epoch_lines(4, name='whole')
    resumed = epoch_lines(3, 4, name='resumed')   # the first run stops inside epoch 1
    assert [l.split()[:5] for l in resumed] == [l.split()[:5] for l in whole] == [
        ['Step', '0', 'out', 'of', '2'], ['Step', '1', 'out', 'of', '2']]
    for a, b in zip(whole, resumed):
        assert float(a.split()[-1]) == pytest.approx(float(b.split()[-1]), rel=1e-4)


# --- signals from the first line to the last (issue 21) ----------------------------------

def test_sigterm_while_tensorflow_starts_is_one_line_and_changes_nothing(data_dir, tmp_path):
    ckpt = tmp_path / 'ckpt'
    proc = subprocess.Popen(
        [sys.executable, str(REPO_ROOT / 'deep_cnn.py'), '--recipe', 'single_conv',
         '--data_dir', data_dir, '--checkpoint_dir', ckpt, '--log_dir', tmp_path / 'logs'],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    handles_sigterm_soon(proc)   # then TensorFlow takes seconds to import: the signal lands
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    assert out == '' and len(err.strip().splitlines()) == 1 and 'SIGTERM' in err, err
    assert steps_in(ckpt) == [] and not (ckpt / 'run.json').exists()


# A signal 0.2 s after the last line lands while Python and TensorFlow tear down, when
# Python has put the default action (death) back under handlers of its own.
@pytest.mark.parametrize('signals, after', [([signal.SIGTERM], 0.2),
                                            ([signal.SIGINT, signal.SIGINT], 0)])
def test_a_signal_after_the_result_is_printed_changes_nothing(data_dir, tmp_path, signals,
                                                              after):
    proc = start_script_until('deep_cnn.py', '--data_dir', data_dir, '--checkpoint_dir',
                              tmp_path / 'ckpt', '--log_dir', tmp_path / 'logs', '--steps', 5,
                              '--log_every', 0, line='test accuracy')
    time.sleep(after)
    for sig in signals:
        proc.send_signal(sig)
    proc.wait(timeout=120)
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert 'Traceback' not in err and 'Exception ignored' not in err
    assert run_json(tmp_path / 'ckpt')['test_accuracy'] is not None


def test_a_batch_larger_than_the_training_split_is_refused_up_front(data_dir, tmp_path):
    proc = run_script('deep_cnn.py', '--batch_size', 60000, '--data_dir', data_dir,
                      '--checkpoint_dir', tmp_path / 'ckpt', timeout=60)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1
    assert '55000' in proc.stderr and not (tmp_path / 'ckpt').exists()


def test_a_disk_that_fills_after_the_checkpoint_is_one_line_and_run_json_stays_valid(
        data_dir, small_tmpfs, capsys, monkeypatch):
    if small_tmpfs is None:
        return      # passed in a user namespace
    real = checkpoints.Checkpoints.save

    def save_then_fill(self, sess, step):
        path = real(self, sess, step)
        with open(small_tmpfs / 'filler', 'wb') as f:     # the disk is full from here on
            try:
                while True:
                    f.write(b'\0' * (1 << 20))
            except OSError:
                pass
        return path
    monkeypatch.setattr(checkpoints.Checkpoints, 'save', save_then_fill)
    ckpt = small_tmpfs / 'ckpt'
    assert cnn(data_dir, ckpt, '--steps', 10, '--checkpoint_every', 0) == 1
    err = capsys.readouterr().err
    assert error_lines(err) == err.strip().splitlines(), err
    assert 'no space left on device' in err and 'model.ckpt-10 is intact' in err
    record = run_json(ckpt)             # the one written as the run began: true, and whole
    assert record['status'] == 'running' and record['steps'] == 0
    assert steps_in(ckpt) == [10]


def test_a_resumed_run_reads_its_config_once(data_dir, trained, monkeypatch):
    from deep_mnist import recipes
    parsed = []
    real = recipes.config_from_record

    def counting(*args, **kwargs):
        parsed.append(args)
        return real(*args, **kwargs)
    monkeypatch.setattr(recipes, 'config_from_record', counting)
    assert cnn(data_dir, trained, '--steps', 40, '--checkpoint_every', 10) == 0
    assert len(parsed) == 1
    assert run_json(trained)['segments'][-1]['from'] == 30


def test_a_damaged_checkpoint_is_named_by_the_run_that_found_it(data_dir, trained, tmp_path):
    """The line's prefix comes from the run (deep_cnn's own say), not a constant."""
    data = trained / 'model.ckpt-30.data-00000-of-00001'
    data.write_bytes(data.read_bytes()[:100])
    model = deep_cnn.build_model(deep_cnn.resolve('expert'))
    said = []
    with tfstart.new_session(model.graph) as sess:
        kept = checkpoints.Checkpoints(str(trained), model.saver, say=said.append)
        assert kept.restore_or_initialise(sess, model.graph, model.global_step, 'expert') == 20
    assert len(said) == 1
    assert said[0].startswith('skipped model.ckpt-30: damaged (the file is truncated)')
