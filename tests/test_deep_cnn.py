"""deep_cnn.py on real MNIST: short runs, checkpoints, resume, signals, summaries.

The runs call deep_cnn.main() in this process (conftest.call_main), as the command line
would; a new process only where the claim is about one: exit codes and the single error
line of ``python deep_cnn.py`` with a bad flag, and a real SIGINT. The tutorial's
300-step run is conftest's session-wide ``expert_run``."""

import dataclasses
import json
import re
import shutil
import signal

import numpy as np
import pytest

import deep_cnn
import mnist_data
from deep_mnist import checkpoints, events, tfstart
from conftest import EXPERT_STEPS, call_main, event_tags, run_script, start_script_until

STEP_LINE = re.compile(r'^step (\d+), training accuracy ([0-9.e-]+)$')


def run_cnn(repo_root, data_dir, *args, timeout=600):
    """Run deep_cnn.py to completion in a new process; returns the CompletedProcess."""
    return run_script('deep_cnn.py', '--data_dir', data_dir, *args, timeout=timeout)


def cnn(data_dir, *args):
    """deep_cnn.main() with these flags, here; a Ran (returncode, stdout, stderr)."""
    return call_main(deep_cnn.main, '--data_dir', data_dir, *args)


def dirs(tmp_path, name):
    return ['--checkpoint_dir', str(tmp_path / name / 'ckpt'),
            '--log_dir', str(tmp_path / name / 'logs')]


def printed_accuracy(stdout):
    last = stdout.strip().splitlines()[-1]
    assert last.startswith('test accuracy '), stdout
    return float(last.split()[-1])


def step_lines(stdout):
    return [int(m.group(1)) for m in map(STEP_LINE.match, stdout.splitlines()) if m]


def checkpoint_steps(ckpt_dir):
    return [step for step, _ in checkpoints.checkpoints(str(ckpt_dir))]


# Where conftest's expert_run logs a step and TensorBoard scalars.
LOGGED = list(range(0, EXPERT_STEPS, 20))


@pytest.mark.parametrize('flags', [
    ['--steps', '-1'], ['--batch_size', '0'], ['--keep_prob', '0'], ['--keep_prob', '1.5'],
    ['--learning_rate', '0'], ['--learning_rate', 'fast'], ['--recipe', 'nope'],
    ['--checkpoint_every', '-5'], ['--no_such_flag'], ['--steps', '1.5'],
    ['--batch_size', '55001'],
])
def test_bad_flags_exit_2_with_one_line(repo_root, data_dir, flags, tmp_path):
    proc = run_cnn(repo_root, data_dir, *flags, *dirs(tmp_path, 'bad'), timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ''
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert 'error:' in proc.stderr and 'Traceback' not in proc.stderr
    assert not (tmp_path / 'bad').exists()


@pytest.mark.long
def test_expert_short_run_clears_floor_and_checkpoints(expert_run):
    run, proc = expert_run
    assert step_lines(proc.stdout) == LOGGED
    assert printed_accuracy(proc.stdout) >= 0.90
    assert checkpoint_steps(run / 'ckpt') == [100, 200, 300]
    record = json.loads((run / 'ckpt' / 'run.json').read_text())
    config = record['config']
    assert config['recipe'] == 'expert' and record['status'] == 'finished'
    assert record['steps'] == 300 and config['seed'] == 1
    assert config['learning_rate'] == 1e-4 and config['batch_size'] == 50
    assert config['keep_prob'] == 0.5 and config['network'] == 'two_conv'
    assert '%g' % record['test_accuracy'] == proc.stdout.split()[-1]
    assert [h[0] for h in record['history']] == LOGGED
    assert record['steps_per_s'] > 0 and record['tensorflow']


@pytest.mark.usefixtures('short_test_split')
@pytest.mark.long
def test_same_seed_gives_same_lines(data_dir, expert_run, tmp_path):
    # The shared run's first 60 steps again, in a run of their own: the same step lines,
    # the same numbers (a fifth of the shared run's cost; the test pass differs by design).
    first = step_line_texts(expert_run[1].stdout)
    again = cnn(data_dir, '--steps', '60', '--seed', '1', '--log_every', '20',
                '--summary_every', '20', '--checkpoint_every', '100', *dirs(tmp_path, 'again'))
    assert again.returncode == 0, again.stderr
    assert step_line_texts(again.stdout) == first[:3] and len(first) > 3


def step_line_texts(stdout):
    return [line for line in stdout.splitlines() if STEP_LINE.match(line)]


@pytest.mark.usefixtures('short_test_split')
@pytest.mark.long
def test_resume_continues_the_step_count(data_dir, expert_run, tmp_path):
    shutil.copytree(expert_run[0], tmp_path / 'run')
    proc = cnn(data_dir, '--steps', '400', '--seed', '1', '--log_every', '100',
               *dirs(tmp_path, 'run'))
    assert proc.returncode == 0, proc.stderr
    assert 'resuming from' in proc.stderr
    assert step_lines(proc.stdout) == [300]
    assert checkpoint_steps(tmp_path / 'run' / 'ckpt')[-1] == 400
    record = json.loads((tmp_path / 'run' / 'ckpt' / 'run.json').read_text())
    assert record['steps'] == 400
    assert [(s['from'], s['to']) for s in record['segments']] == [(0, 300), (300, 400)]
    assert [h[0] for h in record['history']] == LOGGED + [300]

    fresh = cnn(data_dir, '--steps', '10', '--log_every', '5', '--fresh', *dirs(tmp_path, 'run'))
    assert fresh.returncode == 0, fresh.stderr
    assert 'resuming' not in fresh.stderr and step_lines(fresh.stdout) == [0, 5]
    assert checkpoint_steps(tmp_path / 'run' / 'ckpt') == [10]


@pytest.mark.usefixtures('short_test_split')
@pytest.mark.long
def test_sigint_saves_and_a_rerun_picks_it_up(repo_root, data_dir, tmp_path):
    proc = start_script_until('deep_cnn.py', '--data_dir', data_dir, '--steps', 20000,
                              '--log_every', 50, *dirs(tmp_path, 'run'), line='step 100,')
    try:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 128 + signal.SIGINT, err
    assert 'SIGINT' in err and 'saved' in err
    saved = checkpoint_steps(tmp_path / 'run' / 'ckpt')
    assert saved and saved[-1] >= 100
    record = json.loads((tmp_path / 'run' / 'ckpt' / 'run.json').read_text())
    assert record['status'] == 'interrupted' and record['steps'] == saved[-1]

    again = cnn(data_dir, '--steps', str(saved[-1] + 20), '--log_every', '50',
                *dirs(tmp_path, 'run'))
    assert again.returncode == 0, again.stderr
    assert 'resuming from' in again.stderr and 'step 0,' not in again.stdout
    assert checkpoint_steps(tmp_path / 'run' / 'ckpt')[-1] == saved[-1] + 20


@pytest.mark.usefixtures('short_test_split')
@pytest.mark.long
@pytest.mark.parametrize('recipe', sorted(deep_cnn.RECIPES))
def test_every_recipe_builds_trains_and_restores(data_dir, recipe, tmp_path):
    proc = cnn(data_dir, '--recipe', recipe, '--steps', '20', '--log_every', '10',
               '--summary_every', '10', *dirs(tmp_path, 'r'))
    assert proc.returncode == 0, proc.stderr
    assert step_lines(proc.stdout) == [0, 10]
    ckpt = str(tmp_path / 'r' / 'ckpt')
    assert checkpoint_steps(ckpt) == [20]
    record = json.loads((tmp_path / 'r' / 'ckpt' / 'run.json').read_text())
    expected = deep_cnn.resolve(recipe, steps=20, log_every=10, summary_every=10,
                                data_dir=data_dir, checkpoint_dir=ckpt,
                                log_dir=str(tmp_path / 'r' / 'logs'))
    assert record['config'] == dataclasses.asdict(expected)
    # The checkpoint, rebuilt from run.json's config alone, gives the printed accuracy.
    recomputed = checkpoints.checkpoint_test_accuracy(deep_cnn.deepnn, ckpt, data_dir)
    assert '%g' % recomputed == '%g' % printed_accuracy(proc.stdout)


def initial_weights(recipe, seed):
    """{name: flattened initial value} of the recipe's weights, for graph seed ``seed``."""
    model = deep_cnn.build_model(deep_cnn.resolve(recipe, seed=seed))
    tf = tfstart.import_tf()
    with tfstart.new_session(model.graph) as sess:
        sess.run(tf.global_variables_initializer())
        return {name: sess.run(v).ravel() for name, v in model.net.variables.items()
                if name.startswith('W_')}


def test_single_conv_weights_share_001s_random_stream():
    """001's weight_variable passes seed=1: its three weight matrices start alike."""
    w = initial_weights('single_conv', seed=5)
    assert np.array_equal(w['W_fc2'], w['W_conv1'][:160])
    assert np.array_equal(w['W_conv1'], w['W_fc1'][:400])
    assert not np.array_equal(initial_weights('single_conv', seed=6)['W_conv1'], w['W_conv1'])
    expert = initial_weights('expert', seed=5)          # the tutorial's: one stream each
    assert not np.array_equal(expert['W_fc2'][:100], expert['W_conv1'][:100])


@pytest.mark.long
def test_single_conv_full_schedule_reaches_95(data_dir, tmp_path):
    proc = cnn(data_dir, '--recipe', 'single_conv', '--seed', '1', *dirs(tmp_path, 'single'))
    assert proc.returncode == 0, proc.stderr
    assert step_lines(proc.stdout)[-1] == 1000
    assert printed_accuracy(proc.stdout) >= 0.95


@pytest.mark.long
def test_event_files_hold_graph_and_scalars(expert_run):
    logs = expert_run[0] / 'logs'
    train_tags, train_graph = event_tags(str(logs / 'train'))
    test_tags, _ = event_tags(str(logs / 'test'))
    assert train_graph
    n = len(LOGGED)
    assert train_tags.get('accuracy') == n and train_tags.get('cross_entropy') == n
    # test/ also gets the final step's scalars: its curve reaches the end of the run.
    assert test_tags.get('accuracy') == n + 1 and test_tags.get('cross_entropy') == n + 1
    test = events.read_scalars(str(logs), 'test')
    assert sorted(test['accuracy']) == LOGGED + [EXPERT_STEPS]
    assert '%g' % test['accuracy'][EXPERT_STEPS] == expert_run[1].stdout.split()[-1]


@pytest.mark.usefixtures('short_test_split')
@pytest.mark.long
def test_summaries_recipe_writes_write_up_002s_summaries(data_dir, tmp_path):
    proc = cnn(data_dir, '--recipe', 'summaries', '--steps', '3', '--log_every', '0',
               '--summary_every', '2', *dirs(tmp_path, 's'))
    assert proc.returncode == 0, proc.stderr
    tags, _ = event_tags(str(tmp_path / 's' / 'logs' / 'train'))
    plain = tags   # the clean names, without TF 2's '_1' suffix
    for tag in ('W_conv1/summaries/mean', 'W_conv1/summaries/stddev', 'b_fc2/summaries/max',
                'W_fc1/summaries/histogram', 'h_conv1/activations', 'h_fc1/activations',
                'dropout_keep_probability', 'accuracy', 'cross_entropy'):
        assert plain.get(tag) == 2, (tag, sorted(tags))
    for image in ('preprocess', 'W_conv1/filters', 'W_conv2/filters', 'h_conv1/convolved',
                  'h_pool2/pooled'):
        assert any(t.startswith(image + '/image') for t in tags), (image, sorted(tags))


@pytest.mark.usefixtures('short_test_split')
@pytest.mark.long
def test_nan_loss_stops_and_keeps_last_good_checkpoint(data_dir, tmp_path):
    first = cnn(data_dir, '--recipe', 'original', '--steps', '10', *dirs(tmp_path, 'n'))
    assert first.returncode == 0, first.stderr
    blowup = cnn(data_dir, '--recipe', 'original', '--steps', '500', '--learning_rate', '1000',
                 *dirs(tmp_path, 'n'))
    assert blowup.returncode == 1
    assert 'cross_entropy became nan' in blowup.stderr and 'model.ckpt-10' in blowup.stderr
    assert 'test accuracy' not in blowup.stdout
    assert checkpoint_steps(tmp_path / 'n' / 'ckpt') == [10]


@pytest.mark.long
def test_batched_evaluation_equals_one_big_batch(expert_run, data_dir):
    test = mnist_data.read_data_sets(data_dir).test
    ckpt = str(expert_run[0] / 'ckpt')
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=ckpt) as net:
        in_batches = net.predict(test.images)
        at_once = net.predict(test.images, batch_size=len(test.images))
    assert in_batches.shape == (10000, 10)
    np.testing.assert_allclose(in_batches, at_once, atol=1e-5)
    batched = float(np.mean(in_batches.argmax(1) == test.labels))
    assert batched == float(np.mean(at_once.argmax(1) == test.labels))
    assert '%g' % batched == expert_run[1].stdout.split()[-1]


@pytest.mark.usefixtures('short_test_split')
@pytest.mark.long
def test_epochs_recipe_prints_write_up_004s_epoch_losses(data_dir, capsys, tmp_path):
    full = mnist_data.read_data_sets(data_dir, one_hot=True, seed=0)
    small = mnist_data.Datasets(
        train=mnist_data.DataSet(full.train.images[:256].reshape(-1, 28, 28, 1) * 255,
                                 full.train.labels[:256], one_hot=True, seed=0),
        validation=full.validation, test=full.test)
    config, _ = deep_cnn.parse_args(['--recipe', 'epochs', '--steps', '4', '--batch_size',
                                     '128', *dirs(tmp_path, 'e')])
    assert deep_cnn.run(config, mnist=small) == 0
    lines = capsys.readouterr().out.splitlines()
    epoch_lines = [l for l in lines if l.startswith('Step ')]
    assert [l.split()[:5] for l in epoch_lines] == [['Step', '0', 'out', 'of', '2'],
                                                    ['Step', '1', 'out', 'of', '2']]
    assert all(np.isfinite(float(l.split()[-1])) for l in epoch_lines)
    assert lines[-1].startswith('test accuracy ')
