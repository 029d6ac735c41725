"""A run's checkpoints and snapshots (the weights alone, never pruned), found from the files:
a killed run may leave the ``checkpoint`` state file naming one that is gone. The network
comes as ``build`` (deep_cnn.deepnn): the package imports no script."""

import contextlib
import functools
import glob
import os
import re
import shlex

import numpy as np

import mnist_data
from deep_mnist import recipes, record, rundir, tfstart

CHECKPOINT_PREFIX = 'model.ckpt'
DAMAGED_DIR = 'damaged'
SNAPSHOT_DIR = 'snapshots'
KEEP_LAST = 3          # checkpoints kept besides the milestones
EVAL_BATCH = 1000      # images per forward pass: bounded memory, the same probabilities
DEFAULT_RECIPE = 'expert'
_STEP = re.compile(r'%s-(\d+)\.index$' % re.escape(CHECKPOINT_PREFIX))


class CheckpointError(Exception):
    """A checkpoint cannot be read or restored; ``reason``: why, in a few words."""

    def __init__(self, message, reason=None):
        super().__init__(message)
        self.reason = reason or message


def checkpoints(directory):
    """[(step, prefix)] of the checkpoints in a directory, oldest first."""
    found = glob.glob(os.path.join(glob.escape(directory), CHECKPOINT_PREFIX + '-*.index'))
    return sorted((int(m.group(1)), p[:-len('.index')]) for p in found if (m := _STEP.search(p)))


def latest_checkpoint(directory):
    return (checkpoints(directory) or [(None, None)])[-1][1]


def checkpoint_files(prefix):
    return glob.glob(glob.escape(prefix) + '.index') + glob.glob(glob.escape(prefix) + '.data-*')


def snapshot_due(step, last):
    """0, 100, 300, 1000, ... (learning changes most early) and the ``last``."""
    return step in (0, last) or (step >= 100 and re.fullmatch(r'[13]0+', str(step)) is not None)


def snapshot_dir(checkpoint_dir):
    return os.path.join(checkpoint_dir, SNAPSHOT_DIR)


def snapshot_steps(checkpoint_dir):
    """The steps of the snapshots in ``checkpoint_dir``, increasing."""
    return [step for step, _ in checkpoints(snapshot_dir(checkpoint_dir))]


def read_checkpoint(prefix):
    """({variable: shape}, global step or the prefix's) of a checkpoint; CheckpointError."""
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
    tf = tfstart.import_tf()
    try:
        saver.restore(sess, prefix)
    except (tf.errors.OpError, ValueError) as e:
        reason = tfstart.tf_message(e)
        raise CheckpointError('cannot restore %s: %s' % (prefix, reason), reason) from None


class Checkpoints:
    """One run directory's checkpoints (restore, save, prune) and snapshots."""

    def __init__(self, directory, saver, keep_every=0, say=print, snapshot_saver=None):
        self.dir, self.saver, self.keep_every, self.say = directory, saver, keep_every, say
        self.snapshot_saver, self.saved_step = snapshot_saver, None  # the newest on disk

    def restore_or_initialise(self, sess, graph, global_step, recipe):
        """The newest intact checkpoint's step, restored, or 0, initialised."""
        tf = tfstart.import_tf()
        shapes = {v.op.name: v.shape.as_list()
                  for v in graph.get_collection(tf.GraphKeys.GLOBAL_VARIABLES)}
        for _, prefix in reversed(checkpoints(self.dir)):
            try:
                wrong = misfit(shapes, read_checkpoint(prefix)[0])
                if wrong:   # no damage but a user's mistake
                    raise rundir.RunError(
                        '%s was not written by recipe %r (%s differs); choose another '
                        '--checkpoint_dir' % (prefix, recipe, wrong[0]))
                restore(sess, self.saver, prefix)
                self.saved_step = int(sess.run(global_step))
                self.prune()
                return self.saved_step
            except CheckpointError as e:   # out of the way, but not lost
                aside = os.path.join(self.dir, DAMAGED_DIR)
                os.makedirs(aside, exist_ok=True)
                for path in checkpoint_files(prefix):
                    os.replace(path, os.path.join(aside, os.path.basename(path)))
                self.say('skipped %s: damaged (%s); moved it to %s'
                         % (os.path.basename(prefix), e.reason, aside))
        sess.run(tf.global_variables_initializer())
        return 0

    def save(self, sess, step):
        """Save step's checkpoint (once) and prune; the prefix."""
        if step != self.saved_step:
            self._write(self.saver, sess, self.dir, step, 'a checkpoint')
            self.saved_step = step
            self.prune()
        return os.path.join(self.dir, '%s-%d' % (CHECKPOINT_PREFIX, step))

    def snapshot(self, sess, step, last):
        """Keep step's weights in snapshots/ if they are due and not there yet."""
        where = snapshot_dir(self.dir)
        if snapshot_due(step, last) and step not in dict(checkpoints(where)):
            os.makedirs(where, exist_ok=True)
            self._write(self.snapshot_saver, sess, where, step, 'a snapshot')

    def _write(self, saver, sess, directory, step, what):
        """saver.save (atomic: temporary files, renamed); on failure, clean up, RunError."""
        tf = tfstart.import_tf()
        prefix = os.path.join(directory, CHECKPOINT_PREFIX)
        try:
            saver.save(sess, prefix, global_step=step, write_meta_graph=False, write_state=False)
        except (tf.errors.OpError, OSError) as e:
            tf.train.remove_checkpoint('%s-%d' % (prefix, step))
            rundir.remove_partial_files(directory)
            kept = latest_checkpoint(self.dir)
            raise rundir.RunError('cannot save %s in %s: %s; %s' % (
                what, directory, tfstart.tf_message(e), 'the newest checkpoint, %s, is '
                'intact' % os.path.basename(kept) if kept else 'no earlier checkpoint')) from None

    def prune(self):
        """Keep the newest KEEP_LAST and every keep_every'th; the state file names them."""
        tf = tfstart.import_tf()
        found, every = checkpoints(self.dir), self.keep_every
        kept = [os.path.basename(prefix) for n, (step, prefix) in enumerate(found)
                if n >= len(found) - KEEP_LAST or (every and step % every == 0)]
        for _, prefix in found:
            if os.path.basename(prefix) not in kept:
                tf.train.remove_checkpoint(prefix)
        tf.train.update_checkpoint_state(self.dir, kept[-1], kept)


def forward(sess, x, tensors, images, batch_size=EVAL_BATCH, stop=None):
    """{name: array} of ``tensors`` for ``images``, batch by batch; None if ``stop`` came."""
    out = []
    for start in range(0, max(len(images), 1), batch_size):
        if stop:
            return None
        out.append(sess.run(tensors, feed_dict={x: images[start:start + batch_size]}))
    # one pass: also right for what is not per image (weights)
    return out[0] if len(out) == 1 else {n: np.concatenate([o[n] for o in out]) for n in tensors}


def add_checkpoint_flags(parser):
    where = parser.add_mutually_exclusive_group()
    where.add_argument('--recipe', choices=recipes.RECIPES,
                       help='the newest checkpoint of train_data/RECIPE (default: expert)')
    where.add_argument('--checkpoint_dir',
                       help='the newest checkpoint here (default: train_data/expert)')
    where.add_argument('--checkpoint', metavar='PATH',
                       help='this checkpoint, e.g. train_data/expert/model.ckpt-20000')
    parser.add_argument('--step', type=int, metavar='N',
                        help="the checkpoint of step N in the directory, not the newest")


def parse_checkpoint_flags(parser, argv=None):
    """parser.parse_args(argv), refusing --step beside --checkpoint (exit 2)."""
    args = parser.parse_args(argv)
    if args.step is not None and args.checkpoint:
        parser.error('argument --step: not allowed with --checkpoint (it names one checkpoint)')
    return args


def train_hint(checkpoint_dir):
    """A command that trains into checkpoint_dir."""
    parent, name = os.path.split(os.path.normpath(checkpoint_dir))
    recipe = (name if name in recipes.RECIPES and os.path.basename(parent) == 'train_data'
              else DEFAULT_RECIPE)
    words = ['.venv/bin/python', 'deep_cnn.py'] + ['--recipe', recipe] * (recipe != DEFAULT_RECIPE)
    if os.path.normpath(checkpoint_dir) != rundir.default_checkpoint_dir(recipe):
        words += ['--checkpoint_dir', shlex.quote(checkpoint_dir)]
    return 'train one first, e.g. %s' % ' '.join(words)


def find(checkpoint_dir=None, checkpoint=None, step=None, recipe=None):
    """(directory, prefix) the flags name; prefix None: the newest, chosen when read."""
    if checkpoint and not os.path.isdir(checkpoint):
        prefix = re.sub(r'\.(index|data-\d+-of-\d+)$', '', checkpoint)
        if not os.path.exists(prefix + '.index'):
            if not os.path.exists(checkpoint):
                raise CheckpointError('no checkpoint at %s' % checkpoint)
            prefix = checkpoint     # not a checkpoint's name: the reader says what it is
        return os.path.dirname(prefix) or '.', prefix
    checkpoint_dir = (checkpoint or checkpoint_dir
                      or rundir.default_checkpoint_dir(recipe or DEFAULT_RECIPE))
    found = checkpoints(checkpoint_dir)
    if not found:
        raise CheckpointError('no checkpoint %s %s; %s' % (
            'in' if os.path.isdir(checkpoint_dir) else 'directory', checkpoint_dir,
            train_hint(checkpoint_dir)))
    prefix = dict(found).get(step)
    if step is not None and prefix is None:
        raise CheckpointError('no checkpoint of step %d in %s (steps there: %s)' % (
            step, checkpoint_dir, ', '.join(str(s) for s, _ in found)))
    return checkpoint_dir, prefix


def _graph(build, config):
    """(graph, x, net): config's network in a graph of its own."""
    tf = tfstart.import_tf()
    graph = tf.Graph()
    with graph.as_default():
        # Never initialised, but under a seeded run's op determinism random ops need a seed.
        tf.set_random_seed(0)
        x = tf.placeholder(tf.float32, [None, 784], name='x-input')
        return graph, x, build(x, config)


@functools.lru_cache(maxsize=None)
def network_shapes(build, config):
    return {v.op.name: v.shape.as_list() for v in _graph(build, config)[2].variables.values()}


def misfit(expected, shapes):
    """The first (name, shape) of ``expected`` that ``shapes`` lacks or differs in; None."""
    return next(((n, s) for n, s in expected.items() if shapes.get(n) != s), None)


def fitting_config(build, prefix, shapes, stored, run):
    """(Config, record, note): run.json's if its network fits, else guessed from the shapes."""
    if stored is not None and misfit(network_shapes(build, stored), shapes) is None:
        return stored, run, None
    why = ('run.json names recipe %r, but the checkpoint holds another network'
           % stored.recipe if stored else 'no run.json config beside it')
    fits = [name for name, row in recipes.RECIPES.items()
            if misfit(network_shapes(build, row), shapes) is None]
    if not fits:
        row = recipes.RECIPES[DEFAULT_RECIPE]
        name, shape = misfit(network_shapes(build, row), shapes)
        found = 'has no %s' % name if name not in shapes else 'has %s %s' % (name, shapes[name])
        raise CheckpointError('%s matches no recipe of deep_cnn.py: it %s, recipe %s has %s'
                              % (prefix, found, row.recipe, shape))
    note = ('%s: %s; guessed recipe %s from the variable shapes (they fit %s)'
            % (prefix, why, fits[0], ', '.join(fits)))
    return recipes.resolve(fits[0]), {}, note


class Restored(contextlib.AbstractContextManager):
    """config's network and a checkpoint in a session of its own; ``extras(layers)``: more."""

    def __init__(self, build, config, extras=None, precision=None):
        self.build, self.config, self.extras = build, config, extras
        self.precision = precision or config.precision
        self.graph, self.x, self.net = _graph(build, config)
        with self.graph.as_default():
            self.layers = dict(self.net.layers, probabilities=self.net.probabilities,
                               **self.net.variables)
            if extras:
                self.layers.update(extras(self.layers))
            # Only the network's variables: global_step and Adam's slots stay on disk.
            self.saver = tfstart.import_tf().train.Saver(var_list=list(self.net.variables.values()))
        self.sess = tfstart.new_session(self.graph, config=tfstart.session_config(self.precision))

    def restore(self, prefix, step, record, note, directory):
        """Restore ``prefix`` (a checkpoint or a snapshot) as ``step``'s; CheckpointError."""
        restore(self.sess, self.saver, prefix)
        self.prefix, self.step, self.record, self.note, self.dir = (
            prefix, step, record, note, directory)
        return self

    def predict(self, images, batch_size=EVAL_BATCH, stop=None):
        """[N, 10] probabilities of images [N, 784] (ink 1, paper 0); None if stopped."""
        out = self.run(['probabilities'], images, batch_size, stop)
        return None if out is None else out['probabilities']

    def run(self, names, images=None, batch_size=EVAL_BATCH, stop=None):
        """{name: array} of layers ('h_conv1', 'W_conv1', ...) for ``images`` (weights: none)."""
        tensors = {n: self.layers[n] for n in names}
        return (self.sess.run(tensors) if images is None
                else forward(self.sess, self.x, tensors, images, batch_size, stop))

    def at_step(self, step):
        """This network at ``step``: itself, or a new Restored of its snapshot."""
        if step == self.step:
            return self
        prefix = dict(checkpoints(snapshot_dir(self.dir))).get(step)
        if prefix is None:
            raise CheckpointError('no snapshot of step %d (steps kept: %s)' % (
                step, ', '.join(map(str, steps_of(self)))))
        other = Restored(self.build, self.config, self.extras, self.precision)
        try:
            return other.restore(prefix, step, self.record, None, self.dir)
        except CheckpointError as e:
            other.close()
            raise CheckpointError('snapshot of step %d is damaged (%s)' % (step, e.reason),
                                  e.reason) from None

    def __exit__(self, *exc):
        self.sess.close()

    close = __exit__


def steps_of(net):
    """The steps a Restored can be seen at: its run's snapshots and its own."""
    return sorted(set(snapshot_steps(net.dir)) | {net.step})


def open_checkpoint(build, flags=None, checkpoint_dir=None, checkpoint=None, step=None,
                    recipe=None, extras=None, check=None, precision=None):
    """A Restored of the checkpoint the flags name; ``check(shapes, config)`` may refuse it."""
    if flags is not None:
        checkpoint_dir, checkpoint = flags.checkpoint_dir, flags.checkpoint
        step, recipe = flags.step, flags.recipe
    directory, prefix = find(checkpoint_dir, checkpoint, step, recipe)
    stored, run = record.config_of(directory)   # a malformed field: one warning, dropped
    built, chosen = {}, None
    try:
        for _ in range(5):   # again if a running training prunes the newest first
            newest = prefix or latest_checkpoint(directory)
            if newest is None:
                raise CheckpointError('no checkpoint in %s' % directory)
            try:
                shapes, at = read_checkpoint(newest)
                config, found, note = fitting_config(build, newest, shapes, stored, run)
                if check:
                    check(shapes, config)
                if config not in built:
                    built[config] = Restored(build, config, extras, precision)
                chosen = built[config].restore(newest, at, found, note, directory)
                return chosen
            except CheckpointError:
                if prefix or os.path.exists(newest + '.index'):
                    raise
        raise CheckpointError('the checkpoints in %s keep changing; try again when the run '
                              'there has finished' % directory)
    finally:
        for net in built.values():
            if net is not chosen:
                net.close()


def checkpoint_test_accuracy(build, checkpoint_dir, data_dir=None):
    """Test accuracy of the newest checkpoint in checkpoint_dir, as it trained."""
    with open_checkpoint(build, checkpoint_dir=checkpoint_dir) as net:
        test = mnist_data.read_data_sets(data_dir or net.config.data_dir).test
        return float(np.mean(net.predict(test.images).argmax(1) == test.labels))
