"""run.json's schema: every reader (trainer, visualiser, reproduce.py) gets the fields
that are well formed; a wrong type is one warning and that field alone is absent."""

import json

import pytest

from deep_mnist import recipes, record


@pytest.mark.parametrize('fields, bad', [
    ({}, None),
    ({'history': [[0, 0.1], [10, 0.5]], 'epoch_losses': [3.5], 'epoch_partial': [10, 1.25],
      'segments': [{'from': 0, 'to': 10, 'wall_time_s': 2.5}]}, None),
    ({'history': 'oops'}, 'history'),
    ({'history': [[0, 'x']]}, 'history'),
    ({'epoch_losses': [None]}, 'epoch_losses'),
    ({'segments': [1]}, 'segments'),
    ({'segments': [{'from': 0, 'to': 10}]}, 'segments'),
    ({'epoch_partial': [10]}, 'epoch_partial'),
    ({'config': 5}, 'config'),
    ({'test_accuracy': 'x'}, 'test_accuracy'),
    ({'steps': 1.5}, 'steps'),
])
def test_a_malformed_field_alone_is_dropped(tmp_path, fields, bad):
    write(tmp_path, fields)
    kept = record.read_run_json(str(tmp_path), warn=False)
    assert set(fields) - set(kept) == ({bad} if bad else set())


def write(tmp_path, value):
    (tmp_path / record.RUN_JSON).write_text(json.dumps(value) if not isinstance(value, str)
                                            else value)


def test_a_bad_field_is_dropped_with_one_warning_and_the_rest_kept(tmp_path, capsys):
    write(tmp_path, {'config': 5, 'history': [[0, 0.5]], 'test_accuracy': 'x', 'steps': 10})
    kept = record.read_run_json(str(tmp_path))
    assert kept == {'history': [[0, 0.5]], 'steps': 10}
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('warning:')
    assert 'config' in err[0] and 'test_accuracy' in err[0] and str(tmp_path) in err[0]


@pytest.mark.parametrize('content', ['[]', 'null', 'not json', '{"a": '])
def test_a_file_that_is_no_json_object_is_absent(tmp_path, capsys, content):
    write(tmp_path, content)
    assert record.read_run_json(str(tmp_path)) == {}
    assert capsys.readouterr().err.startswith('warning: ignoring ')


@pytest.mark.parametrize('field, value', [('batch_size', 'abc'), ('weight_seed', 'x'),
                                          ('learning_rate', True), ('steps', 2.5)])
def test_a_config_field_of_the_wrong_type_takes_the_recipes_value(tmp_path, capsys,
                                                                 field, value):
    config = dict(recipes.resolve('single_conv').__dict__, **{field: value})
    write(tmp_path, {'config': config})
    stored, _ = record.config_of(str(tmp_path))
    assert getattr(stored, field) == getattr(recipes.RECIPES['single_conv'], field)
    err = capsys.readouterr().err
    assert err.count('warning:') == 1 and 'config.%s' % field in err


def test_a_config_with_an_unknown_recipe_is_none(tmp_path):
    write(tmp_path, {'config': {'recipe': 'nope'}})
    assert record.config_of(str(tmp_path))[0] is None


def test_an_evaluating_rerun_records_what_the_run_lacks(tmp_path):
    write(tmp_path, {'status': 'interrupted', 'steps': 30, 'test_accuracy': None})
    assert record.record_test_accuracy(str(tmp_path), 30, 0.5)
    after = json.loads((tmp_path / record.RUN_JSON).read_text())
    assert after['test_accuracy'] == 0.5 and after['status'] == 'finished'
    # a record of another step, or one that has its accuracy, is left as it is
    assert not record.record_test_accuracy(str(tmp_path), 30, 0.9)
    assert not record.record_test_accuracy(str(tmp_path), 40, 0.9)
