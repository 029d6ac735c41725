"""run.json: what a run of deep_cnn.py records beside its checkpoints, and the one schema
that the trainer, the visualiser and reproduce.py read it through."""

import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from typing import List, Optional, Tuple, TypedDict

from deep_mnist import machine, recipes, rundir, tfstart

RUN_JSON = 'run.json'
# Each field of run.json and its type, as recipes.fits reads a type.
SCHEMA = {
    'config': dict, 'status': str, 'steps': int, 'test_accuracy': Optional[float],
    'checkpoint': Optional[str], 'wall_time_s': float, 'steps_per_s': Optional[float],
    'tensorflow': str, 'python': str, 'machine': str, 'cpu': Optional[str],
    'bf16_native': Optional[bool], 'bf16_in_use': bool,
    'history': List[Tuple[float, float]],        # [step, training accuracy]
    'epoch_losses': List[float],
    'epoch_partial': Optional[Tuple[float, float]],     # [step, loss so far in that epoch]
    'segments': List[TypedDict('Segment', {'from': float, 'to': float, 'wall_time_s': float})],
}


def read_json(path, missing):
    """The JSON value at ``path``, ``missing`` if there is none; ValueError if it is not JSON."""
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except FileNotFoundError:
        return missing
    except OSError as e:
        raise ValueError(str(e)) from None


def read_run_json(directory, warn=True):
    """run.json in ``directory`` as a dict of its well-formed fields, or {} when there is
    none. A file that is not a JSON object is one warning and treated as absent."""
    path = os.path.join(directory, RUN_JSON)
    try:
        record, problem = read_json(path, {}), 'not a JSON object'
    except ValueError as e:
        record, problem = None, e
    if not isinstance(record, dict):
        if warn:
            print('warning: ignoring %s: %s' % (path, problem), file=sys.stderr)
        return {}
    bad = [key for key, kind in SCHEMA.items() if key in record
           and not recipes.fits(record[key], kind)]
    if bad and warn:
        print('warning: ignoring %s field%s %s of %s: not of the type this version writes'
              % ('this' if len(bad) == 1 else 'these', 's' * (len(bad) > 1),
                 ', '.join(bad), path), file=sys.stderr)
    return {k: v for k, v in record.items() if k not in bad}


def config_of(directory, warn=True):   # Config None if the record has none
    record = read_run_json(directory, warn)
    return recipes.config_from_record(record, os.path.join(directory, RUN_JSON), warn), record


class RunRecord:
    """run.json of a run, written at every checkpoint and at the end. ``stored`` and
    ``previous``: the Config and record of the run.json so far."""

    def __init__(self, config, stored, previous, start, steps_per_epoch):
        self.config, self.start, self.steps_per_epoch = config, start, steps_per_epoch
        self.t0 = self.t1 = None    # when this segment's training loop started and ended
        self.history = [h for h in previous.get('history', []) if h[0] < start]
        self.epoch_losses = previous.get('epoch_losses', [])[:start // (self.steps_per_epoch or 1)]
        partial = previous.get('epoch_partial')
        self.epoch_loss = partial[1] if partial and partial[0] == start else 0.0
        # A fallback to an older checkpoint redoes steps: earlier segments end at `start`.
        self.segments = [_cut(s, start) for s in previous.get('segments', []) if s['from'] < start]
        self.changed = {} if stored is None or not start else {
            k: v for k, v in recipes.config_changes(stored, config).items()
            if k not in recipes.PLACES}
        self.environment = {   # what runs this segment
            'tensorflow': tfstart.import_tf().__version__, 'python': platform.python_version(),
            'machine': machine.description(),
            'cpu': machine.cpu_model(),                 # None: the CPU could not be identified
            'bf16_native': machine.cpu_has_native_bf16(),   # None: its flags could not be read
            'bf16_in_use': tfstart.bf16_in_use(config.precision),
        }

    def add_loss(self, step, loss):
        """Count a step's loss into its epoch; the epoch's loss when ``step`` ends one."""
        if not self.config.epochs or not self.steps_per_epoch:
            return None
        self.epoch_loss += float(loss)
        if step % self.steps_per_epoch:
            return None
        self.epoch_losses.append(self.epoch_loss)
        self.epoch_loss = 0.0
        return self.epoch_losses[-1]

    def seconds(self):
            return (self.t1 or time.monotonic()) - self.t0 if self.t0 else 0.0

    def write(self, step, status, checkpoint, test_accuracy=None):
        wall = self.seconds()
        segments = self.segments + [{
            'from': self.start, 'to': step, 'status': status, 'wall_time_s': round(wall, 2),
            'steps_per_s': round((step - self.start) / wall, 2) if wall > 0 else None,
            'finished_at': datetime.datetime.now().isoformat(timespec='seconds'),
            'changed': self.changed}]
        total_wall = sum(s['wall_time_s'] for s in segments)
        total_steps = sum(s['to'] - s['from'] for s in segments)
        rundir.write_json(os.path.join(self.config.checkpoint_dir, RUN_JSON), {
            'config': dataclasses.asdict(self.config), 'status': status, 'steps': step,
            'test_accuracy': test_accuracy,
            'checkpoint': checkpoint and os.path.basename(checkpoint),
            'wall_time_s': round(total_wall, 2),     # training loops, all segments
            'steps_per_s': round(total_steps / total_wall, 2) if total_wall > 0 else None,
            **self.environment,
            'segments': segments, 'history': self.history, 'epoch_losses': self.epoch_losses,
            'epoch_partial': [step, self.epoch_loss],
        })


def _cut(segment, start):
    """A segment that ran past ``start``, cut there, its time cut in proportion."""
    if segment['to'] <= start:
        return segment
    share = (start - segment['from']) / (segment['to'] - segment['from'])
    return dict(segment, to=start, wall_time_s=round(segment['wall_time_s'] * share, 2))


def record_test_accuracy(directory, step, accuracy):
    """An evaluating rerun's result, into a run.json that lacks it for that step."""
    record = read_run_json(directory, warn=False)
    if record.get('steps') == step and record.get('test_accuracy') is None:
        record.update(test_accuracy=accuracy, status='finished')
        rundir.write_json(os.path.join(directory, RUN_JSON), record)
        return True
    return False
