"""Reading TensorBoard event files: one per run segment in each writer directory
(``logs/<recipe>/train``, ``.../test``); a resumed run's file takes over the steps it redid."""

import glob
import os
import re

from deep_mnist import tfstart

SCALARS = ('accuracy', 'cross_entropy')
# 'accuracy_1' is how TF's own summary ops would name it beside the scope.
SCALAR_TAG = re.compile(r'(%s)(_\d+)?' % '|'.join(SCALARS))


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


def read_scalars(log_dir, subdir):
    """{'accuracy': {step: value}, 'cross_entropy': ...}; a later file replaces its steps."""
    scalars = {tag: {} for tag in SCALARS}
    for path in event_files(os.path.join(log_dir, subdir)) if log_dir else ():
        found = [(match.group(1), int(event.step), float(value.simple_value))
                 for event in events(path) for value in event.summary.value
                 if (match := SCALAR_TAG.fullmatch(value.tag))]
        first = min([step for _, step, _ in found], default=float('inf'))
        scalars = {tag: {s: v for s, v in values.items() if s < first}
                   for tag, values in scalars.items()}
        for tag, step, value in found:
            scalars[tag][step] = value
    return scalars
