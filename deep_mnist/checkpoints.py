"""A run's checkpoints on disk: found from the files themselves, restored (the one place
that restores one), saved, pruned, and set aside when damaged.

A checkpoint is ``model.ckpt-<step>.index`` plus its ``.data-*`` shards; the
``checkpoint`` state file is written for tf.train.latest_checkpoint's sake but never
trusted, since a killed run may leave it naming a checkpoint that is gone.
"""

import glob
import json
import os
import re
import sys

from deep_mnist import rundir, tfstart

CHECKPOINT_PREFIX = 'model.ckpt'
DAMAGED_DIR = 'damaged'
KEEP_LAST = 3          # checkpoints kept besides the milestones
_INDEX = re.compile(r'^%s-(\d+)\.index$' % re.escape(CHECKPOINT_PREFIX))


class CheckpointError(Exception):
    """A checkpoint cannot be read or restored: ``reason`` says why in a few words, the
    message names the checkpoint too."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


def checkpoints(directory):
    """[(step, prefix)] of the checkpoints in a directory, oldest first."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    found = [(int(m.group(1)), os.path.join(directory, name[:-len('.index')]))
             for m, name in ((_INDEX.match(n), n) for n in names) if m]
    return sorted(found)


def latest_checkpoint(directory):
    """The newest checkpoint prefix in a directory, or None."""
    found = checkpoints(directory)
    return found[-1][1] if found else None


def exists(prefix):
    return os.path.exists(prefix + '.index')


def checkpoint_files(prefix):
    """The files that make up one checkpoint: its .index and .data-* shards."""
    return glob.glob(glob.escape(prefix) + '.index') + glob.glob(glob.escape(prefix) + '.data-*')


def remove_checkpoint(prefix):
    for path in checkpoint_files(prefix):
        os.remove(path)


def move_aside(prefix):
    """Move a damaged checkpoint into <dir>/damaged/, out of the way but not lost."""
    target = os.path.join(os.path.dirname(prefix), DAMAGED_DIR)
    os.makedirs(target, exist_ok=True)
    for path in checkpoint_files(prefix):
        os.replace(path, os.path.join(target, os.path.basename(path)))
    return target


def write_checkpoint_state(directory, prefixes):
    """The ``checkpoint`` state file that tf.train.latest_checkpoint reads, naming
    ``prefixes`` (oldest first; the last is the latest), written atomically."""
    names = [json.dumps(os.path.basename(p)) for p in prefixes]
    lines = ['model_checkpoint_path: %s' % names[-1]] if names else []
    lines += ['all_model_checkpoint_paths: %s' % n for n in names]
    rundir.write_atomically(os.path.join(directory, 'checkpoint'), '\n'.join(lines) + '\n')


def read_checkpoint(prefix):
    """(variable name -> shape, global step) of a checkpoint, without a graph; the step
    from the prefix where the checkpoint holds none. CheckpointError if unreadable."""
    tf = tfstart.import_tf()
    try:
        reader = tf.train.load_checkpoint(prefix)
        shapes = reader.get_variable_to_shape_map()
        if 'global_step' in shapes:
            return shapes, int(reader.get_tensor('global_step'))
    except (tf.errors.OpError, ValueError, IndexError) as e:
        reason = tfstart.tf_message(e)
        raise CheckpointError('%s is not a readable TensorFlow checkpoint (%s)'
                              % (prefix, reason), reason) from None
    match = re.search(r'-(\d+)$', prefix)
    return shapes, int(match.group(1)) if match else -1


def restore(sess, saver, prefix):
    """Restore ``prefix`` into ``sess`` through ``saver``; CheckpointError if it cannot."""
    tf = tfstart.import_tf()
    try:
        saver.restore(sess, prefix)
    except (tf.errors.OpError, ValueError) as e:
        reason = tfstart.tf_message(e)
        raise CheckpointError('cannot restore %s: %s' % (prefix, reason), reason) from None


def with_newest(directory, use, attempts=5):
    """``use(prefix)`` on the newest checkpoint of ``directory``; if that checkpoint is
    pruned by a running training before ``use`` has read it, again on the newest then."""
    for _ in range(attempts):
        prefix = latest_checkpoint(directory)
        if prefix is None:
            raise CheckpointError('no checkpoint in %s' % directory)
        try:
            return use(prefix)
        except CheckpointError:
            if exists(prefix):
                raise
    raise CheckpointError('the checkpoints in %s keep changing; try again when the run '
                          'there has finished' % directory)


class Checkpoints:
    """The checkpoints of one run directory: restore the newest intact one, save, prune."""

    def __init__(self, directory, saver, keep_every=0):
        self.dir, self.saver, self.keep_every = directory, saver, keep_every
        self.prefix = os.path.join(directory, CHECKPOINT_PREFIX)
        self.saved_step = None      # the step of the newest checkpoint on disk

    def restore_or_initialise(self, sess, graph, global_step, recipe):
        """Restore the newest intact checkpoint and return its step, or initialise and
        return 0. Damaged checkpoints are moved aside into damaged/, with a line each."""
        tf = tfstart.import_tf()
        shapes = {v.op.name: v.shape.as_list()
                  for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)}
        for _, prefix in reversed(checkpoints(self.dir)):
            try:
                self._check_fits(prefix, shapes, recipe)
                restore(sess, self.saver, prefix)
                self.saved_step = int(sess.run(global_step))
                self.prune()
                return self.saved_step
            except CheckpointError as e:
                problem = e.reason
            where = move_aside(prefix)
            print('deep_cnn: skipped %s: damaged (%s); moved it to %s'
                  % (os.path.basename(prefix), problem, where), file=sys.stderr)
        sess.run(tf.global_variables_initializer())
        return 0

    @staticmethod
    def _check_fits(prefix, shapes, recipe):
        """CheckpointError if unreadable; RunError if it holds another network (no
        damage but a user's mistake)."""
        stored, _ = read_checkpoint(prefix)
        misfit = sorted(name for name, shape in shapes.items() if stored.get(name) != shape)
        if misfit:
            raise rundir.RunError(
                '%s was not written by recipe %r (%s differs); choose another '
                '--checkpoint_dir' % (prefix, recipe, misfit[0]))

    def save(self, sess, step):
        """Save step's checkpoint (once) and prune; the prefix. A failed write (disk full,
        no permission) removes its partial files and raises RunError."""
        tf = tfstart.import_tf()
        path = '%s-%d' % (self.prefix, step)
        if step == self.saved_step:
            return path
        try:
            self.saver.save(sess, self.prefix, global_step=step, write_meta_graph=False,
                            write_state=False)
        except (tf.errors.OpError, OSError) as e:
            remove_checkpoint(path)
            rundir.remove_partial_files(self.dir)
            kept = latest_checkpoint(self.dir)
            raise rundir.RunError('cannot save a checkpoint in %s: %s; %s' % (
                self.dir, tfstart.tf_message(e), 'the newest one there, %s, is intact'
                % os.path.basename(kept) if kept else 'no earlier checkpoint')) from None
        self.saved_step = step
        self.prune()
        return path

    def prune(self):
        """Keep the newest KEEP_LAST checkpoints and the milestones (every keep_every
        steps); delete the rest, and name the kept ones in the state file."""
        found = checkpoints(self.dir)
        every = self.keep_every
        kept = [(step, prefix) for n, (step, prefix) in enumerate(found)
                if n >= len(found) - KEEP_LAST or (every and step % every == 0)]
        for item in found:
            if item not in kept:
                remove_checkpoint(item[1])
        write_checkpoint_state(self.dir, [prefix for _, prefix in kept])
