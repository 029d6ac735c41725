"""Reading TensorBoard event files: one per run segment in each writer directory
(``logs/<recipe>/train``, ``.../test``); a resumed run's file takes over the steps it redid."""

import glob
import os
import re

from deep_mnist import tfstart

SCALARS = ('accuracy', 'cross_entropy')


def event_files(directory):
    # Sorted: the names carry the time each writer started.
    return sorted(glob.glob(os.path.join(glob.escape(directory), 'events.out.tfevents.*')))


def events(path):
    """The events of one file; a file cut short by a killed run yields what was written."""
    tf = tfstart.import_tf()
    try:
        yield from tf.train.summary_iterator(path)
    except tf.errors.OpError:
        return


def _file_scalars(path):
    found = {tag: {} for tag in SCALARS}
    for event in events(path):
        for value in event.summary.value:
            # 'accuracy_1' is how TF's own summary ops would name it beside the scope.
            match = re.fullmatch(r'(%s)(_\d+)?' % '|'.join(SCALARS), value.tag)
            if match:
                found[match.group(1)][int(event.step)] = float(value.simple_value)
    return found


def read_scalars(log_dir, subdir):
    """{'accuracy': {step: value}, 'cross_entropy': {...}} from log_dir/subdir; a later
    file replaces the steps from its first one on."""
    scalars = {tag: {} for tag in SCALARS}
    if not log_dir:
        return scalars
    for path in event_files(os.path.join(log_dir, subdir)):
        found = _file_scalars(path)
        first = min((s for values in found.values() for s in values), default=None)
        if first is not None:
            for tag, values in found.items():
                kept = {s: v for s, v in scalars[tag].items() if s < first}
                scalars[tag] = {**kept, **values}
    return scalars
