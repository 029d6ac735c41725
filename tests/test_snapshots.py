"""Snapshots along a run: the weights alone, kept at steps spaced for learning's pace,
equal to the checkpoint of the same step, a damaged one named and skipped, and runs
from before snapshots still read."""

import os
import shutil

import numpy as np
import pytest

import deep_cnn
from conftest import call_main
from deep_mnist import checkpoints, tfstart


def tensors(prefix):
    """{name: array} of every variable a checkpoint holds."""
    reader = tfstart.import_tf().train.load_checkpoint(str(prefix))
    return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}


@pytest.mark.parametrize('step, last, due', [
    (0, 300, True), (100, 300, True), (200, 300, False), (300, 300, True), (30, 300, False),
    (1000, 20000, True), (3000, 20000, True), (10000, 20000, True), (20000, 20000, True),
    (2000, 20000, False), (30000, 50000, True), (101, 101, True), (1300, 20000, False)])
def test_the_schedule_is_zero_then_about_three_times_apart_and_the_last(step, last, due):
    assert checkpoints.snapshot_due(step, last) == due


def test_a_run_keeps_snapshots_at_the_scheduled_steps(expert_run):
    ckpt = expert_run[0] / 'ckpt'
    assert checkpoints.snapshot_steps(ckpt) == [0, 100, 300]
    # Apart from the checkpoints and their state file: tf.train.latest_checkpoint is not misled.
    assert checkpoints.latest_checkpoint(ckpt).endswith('model.ckpt-300')
    assert sorted(os.listdir(ckpt / 'snapshots')) == sorted(
        'model.ckpt-%d.%s' % (s, end) for s in (0, 100, 300)
        for end in ('index', 'data-00000-of-00001'))


@pytest.mark.parametrize('step', [100, 300])
def test_a_snapshot_holds_the_weights_of_the_checkpoint_of_its_step(expert_run, step):
    ckpt = expert_run[0] / 'ckpt'
    snapshot = tensors(ckpt / 'snapshots' / ('model.ckpt-%d' % step))
    checkpoint = tensors(ckpt / ('model.ckpt-%d' % step))
    # The network's eight variables alone: no optimizer slots, no global_step.
    assert sorted(snapshot) == sorted(
        '%s/%s_%s' % (layer, kind, layer) for layer in ('conv1', 'conv2', 'fc1', 'fc2')
        for kind in ('W', 'b'))
    for name, value in snapshot.items():
        np.testing.assert_array_equal(value, checkpoint[name], err_msg=name)
    # Weight-only: about a third of a checkpoint (Adam keeps two slots per weight).
    size = os.path.getsize(ckpt / 'snapshots' / ('model.ckpt-%d.data-00000-of-00001' % step))
    assert size < 14e6 and 7 * size < 100e6    # a full 20000-step run keeps 7


def test_the_step_zero_snapshot_is_the_untrained_network(expert_run):
    ckpt = expert_run[0] / 'ckpt'
    zero, trained = tensors(ckpt / 'snapshots/model.ckpt-0'), tensors(ckpt / 'model.ckpt-300')
    assert np.allclose(zero['conv1/b_conv1'], 0.1)        # the tutorial's initial bias
    assert not np.allclose(zero['conv1/W_conv1'], trained['conv1/W_conv1'])


def test_a_network_is_seen_at_each_of_its_snapshots(expert_run, data_dir):
    ckpt = str(expert_run[0] / 'ckpt')
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=ckpt) as net:
        assert checkpoints.steps_of(net) == [0, 100, 300]
        assert net.at_step(300) is net
        with net.at_step(0) as untrained:
            assert untrained.step == 0
            w0 = untrained.run(['W_conv1'])['W_conv1']
        np.testing.assert_array_equal(
            w0, tensors(expert_run[0] / 'ckpt/snapshots/model.ckpt-0')['conv1/W_conv1'])
        with pytest.raises(checkpoints.CheckpointError,
                           match=r'^no snapshot of step 200 \(steps kept: 0, 100, 300\)$'):
            net.at_step(200)


def test_a_damaged_snapshot_is_named_and_the_others_still_open(expert_run, tmp_path):
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(expert_run[0] / 'ckpt', ckpt)
    data = ckpt / 'snapshots/model.ckpt-100.data-00000-of-00001'
    raw = bytearray(data.read_bytes())
    raw[1000:1100] = bytes(100)
    data.write_bytes(bytes(raw))
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=str(ckpt)) as net:
        with pytest.raises(checkpoints.CheckpointError,
                           match=r'^snapshot of step 100 is damaged \(.+\)$') as e:
            net.at_step(100)
        assert '\n' not in str(e.value)
        with net.at_step(0) as untrained:
            assert untrained.run(['b_conv1'])['b_conv1'] == pytest.approx(0.1)


def test_a_run_from_before_snapshots_reads_and_resumes_adding_the_steps_it_passes(
        fast_run, data_dir, tmp_path):
    ckpt = tmp_path / 'ckpt'
    shutil.copytree(fast_run[0] / 'ckpt', ckpt)
    shutil.rmtree(ckpt / 'snapshots')            # as a run before this change left it
    with checkpoints.open_checkpoint(deep_cnn.deepnn, checkpoint_dir=str(ckpt)) as net:
        assert checkpoints.steps_of(net) == [20]
    ran = call_main(deep_cnn.main, '--recipe', 'fast', '--steps', 110, '--seed', 1,
                    '--log_every', 0, '--summary_every', 0, '--data_dir', data_dir,
                    '--checkpoint_dir', ckpt, '--log_dir', tmp_path / 'logs')
    assert ran.returncode == 0, ran.stderr
    assert checkpoints.snapshot_steps(ckpt) == [100, 110]
    # The last snapshot lost (a full disk as it was written): a rerun that only evaluates
    # writes it again.
    tfstart.import_tf().train.remove_checkpoint(
        str(ckpt / 'snapshots' / 'model.ckpt-110'))
    ran = call_main(deep_cnn.main, '--recipe', 'fast', '--steps', 110, '--data_dir', data_dir,
                    '--checkpoint_dir', ckpt, '--log_dir', tmp_path / 'logs')
    assert ran.returncode == 0 and 'nothing to train' in ran.stderr, ran.stderr
    assert checkpoints.snapshot_steps(ckpt) == [100, 110]
    # --fresh removes them with the rest of the run.
    ran = call_main(deep_cnn.main, '--recipe', 'fast', '--steps', 0, '--fresh',
                    '--data_dir', data_dir, '--checkpoint_dir', ckpt)
    assert ran.returncode == 1 and 'nothing to train' in ran.stderr
    assert checkpoints.snapshot_steps(ckpt) == []
