"""Precision and the CPU class: fast's schedule per precision, what a run on a CPU without
native bfloat16 says and records, and a precision flag that is not one.

The CPU is simulated through $DEEP_MNIST_CPU_FLAGS (deep_mnist.machine), which stands
in for /proc/cpuinfo's flags, in this process and in the scripts it starts.
"""

import json

import pytest

import deep_cnn
from conftest import call_main, run_script
from deep_mnist import machine, recipes

NO_BF16 = 'fpu sse2 avx avx2 fma avx512f'     # an AVX-512 Xeon without bf16
BF16 = NO_BF16 + ' avx512_bf16'


@pytest.fixture
def cpu(monkeypatch):
    """cpu(flags): the CPU the process (and its children) sees from here on."""
    return lambda flags: monkeypatch.setenv(machine.FLAGS_ENV, flags)


@pytest.mark.parametrize('flags, cls', [(BF16, 'bf16'), (NO_BF16, 'AVX-512'),
                                        ('sse2 avx avx2 fma', 'AVX2'), ('fp asimd', 'ARM')])
def test_cpu_class_follows_the_flags(cpu, flags, cls):
    cpu(flags)
    assert machine.cpu_class() == cls
    assert machine.cpu_has_native_bf16() is (cls == 'bf16')


def test_fast_in_bf16_keeps_its_row(cpu):
    cpu(BF16)
    config = recipes.resolve('fast')
    assert (config.steps, config.batch_size, config.learning_rate) == (1719, 128, 5e-3)
    assert config.tuned_for == 'bf16' and recipes.computes_in(config.precision) == 'bf16'


@pytest.mark.parametrize('flags, precision', [(NO_BF16, None), (NO_BF16, 'bf16'),
                                              (BF16, 'fp32'), ('', None)])
def test_fast_in_fp32_takes_its_fp32_schedule(cpu, flags, precision):
    """No native bf16 (or --precision fp32 on a CPU with it): SCHEDULES['fast']['fp32']."""
    cpu(flags)
    config = recipes.resolve('fast', precision=precision)
    schedule = recipes.SCHEDULES['fast']['fp32']
    assert config.tuned_for == 'fp32'
    assert {k: getattr(config, k) for k in schedule} == schedule
    # the network and the rest of the training stay fast's
    row = recipes.RECIPES['fast']
    for field in ('network', 'init', 'dropout', 'keep_prob', 'schedule', 'label_smoothing'):
        assert getattr(config, field) == getattr(row, field)


def test_a_flag_wins_over_the_precision_schedule(cpu):
    cpu(NO_BF16)
    config = recipes.resolve('fast', batch_size=64, steps=10)
    assert (config.batch_size, config.steps, config.tuned_for) == (64, 10, 'fp32')
    assert config.learning_rate == recipes.SCHEDULES['fast']['fp32']['learning_rate']


def test_expert_is_the_same_on_every_cpu(cpu):
    cpu(NO_BF16)
    without = recipes.resolve('expert')
    cpu(BF16)
    assert recipes.resolve('expert') == without
    assert recipes.precision_line(without) is None    # fp32 as written: nothing to say


def test_the_precision_line_names_what_runs(cpu):
    cpu(NO_BF16)
    line = recipes.precision_line(recipes.resolve('fast'))
    assert line.startswith('bf16 not in use') and 'running fp32 instead' in line
    assert 'fp32 schedule' in line and '%d steps of %d' % (
        recipes.SCHEDULES['fast']['fp32']['steps'],
        recipes.SCHEDULES['fast']['fp32']['batch_size']) in line
    cpu(BF16)
    assert recipes.precision_line(recipes.resolve('fast')).startswith('fast in bf16')
    assert 'fp32 schedule' in recipes.precision_line(recipes.resolve('fast', precision='fp32'))


def test_an_unknown_precision_is_a_flag_error():
    result = run_script('deep_cnn.py', '--precision', 'fp16')
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and '--precision' in lines[0] and 'fp16' in lines[0]
    assert 'Traceback' not in result.stderr and result.stdout == ''


def test_bf16_asked_for_without_it_says_so_and_runs_fp32(cpu, data_dir, tmp_path):
    """A real run of a few steps on a simulated CPU without bf16: the first stderr line
    says bf16 is not in use and that fp32 runs; run.json records it and the schedule."""
    cpu(NO_BF16)
    ckpt = tmp_path / 'ckpt'
    result = run_script('deep_cnn.py', '--recipe', 'fast', '--precision', 'bf16',
                        '--steps', '3', '--data_dir', data_dir, '--checkpoint_dir', ckpt,
                        '--log_dir', tmp_path / 'logs', '--summary_every', '0')
    assert result.returncode == 0, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith('deep_cnn: bf16 not in use') and 'running fp32 instead' in first
    assert result.stdout.splitlines()[-1].startswith('test accuracy ')
    run = json.loads((ckpt / 'run.json').read_text())
    assert run['bf16_in_use'] is False and run['bf16_native'] is False
    config = run['config']
    assert config['precision'] == 'bf16' and config['tuned_for'] == 'fp32'
    fp32 = recipes.SCHEDULES['fast']['fp32']
    assert config['batch_size'] == fp32['batch_size']
    assert config['learning_rate'] == fp32['learning_rate'] and config['steps'] == 3


def test_fast_with_bf16_records_the_bf16_schedule(cpu, data_dir, tmp_path):
    """On a (simulated) bf16 CPU the first line says bf16 and run.json its schedule. Only
    where this CPU really has bf16: the flag alone would make TensorFlow emulate it."""
    if not machine.cpu_has_native_bf16():
        pytest.skip('this CPU has no native bfloat16')
    cpu(BF16)
    ckpt = tmp_path / 'ckpt'
    result = run_script('deep_cnn.py', '--recipe', 'fast', '--steps', '3', '--data_dir',
                        data_dir, '--checkpoint_dir', ckpt, '--log_dir', tmp_path / 'logs',
                        '--summary_every', '0')
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines()[0].startswith('deep_cnn: fast in bf16')
    run = json.loads((ckpt / 'run.json').read_text())
    assert run['bf16_in_use'] is True
    assert (run['config']['tuned_for'], run['config']['batch_size']) == ('bf16', 128)


def test_a_run_on_the_other_precision_schedule_is_refused_in_words(cpu, data_dir, tmp_path):
    """fast trained on its fp32 schedule (--precision fp32), then resumed where bf16 runs:
    the schedules differ, so it is refused, in one line that says why and what resumes it."""
    where = ['--recipe', 'fast', '--data_dir', data_dir, '--checkpoint_dir', tmp_path / 'ckpt',
             '--log_dir', tmp_path / 'logs', '--summary_every', '0', '--log_every', '0']
    cpu(BF16)
    first = call_main(deep_cnn.main, *where, '--precision', 'fp32', '--steps', '2')
    assert first.returncode == 0, first.stderr
    again = call_main(deep_cnn.main, *where, '--steps', '4')
    assert again.returncode == 1
    errors = [line for line in again.stderr.splitlines() if line.startswith('error:')]
    assert len(errors) == 1, again.stderr
    assert 'on its fp32 schedule, and this run computes in bf16' in errors[0]
    assert 'rerun with --precision fp32 to resume it' in errors[0]


def test_a_bf16_run_resumed_in_fp32_is_told_how_it_resumes(cpu, data_dir, tmp_path):
    """The other way round, where bf16 is native: --precision bf16 resumes it; where the
    CPU has no bf16 (simulated), nothing here can, and the line says so."""
    if not machine.cpu_has_native_bf16():
        pytest.skip('this CPU has no native bfloat16')
    where = ['--recipe', 'fast', '--data_dir', data_dir, '--checkpoint_dir', tmp_path / 'ckpt',
             '--log_dir', tmp_path / 'logs', '--summary_every', '0', '--log_every', '0']
    first = call_main(deep_cnn.main, *where, '--steps', '2')
    assert first.returncode == 0, first.stderr
    again = call_main(deep_cnn.main, *where, '--precision', 'fp32', '--steps', '4')
    assert again.returncode == 1
    assert 'on its bf16 schedule, and this run computes in fp32: rerun with --precision bf16 ' \
           'to resume it' in again.stderr
    cpu(NO_BF16)
    elsewhere = call_main(deep_cnn.main, *where, '--steps', '4')
    assert elsewhere.returncode == 1
    assert 'it resumes only on a CPU with native bfloat16' in elsewhere.stderr
