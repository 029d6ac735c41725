"""What a deep_cnn.py run does that is not the tutorial. Exit codes: 0 done, 1 an error (one
line), 128 + the signal's number (SIGINT 130, SIGTERM 143)."""

import os
import sys
import time

import numpy as np

import mnist_data
from deep_mnist import (checkpoints, machine, progress, recipes, record, rundir, signals,
                        summaries, tfstart)


def say(message):
    print('deep_cnn:', message, file=sys.stderr)


def check_resume(config):
    """(Config, record) of run.json, or (None, {}); RunError for another recipe's run."""
    directory = config.checkpoint_dir
    found = checkpoints.checkpoints(directory)
    if not found and config.steps == 0:
        raise rundir.RunError('--steps 0: nothing to train, and no checkpoint in %s to '
                              'evaluate' % directory)
    stored, previous = record.config_of(directory)
    if not found or stored is None:
        return stored, previous
    changed = recipes.config_changes(stored, config)
    fixed = [name for name in changed if name not in recipes.RESUMABLE]
    if fixed:
        if 'recipe' in fixed:
            what = 'a run of recipe %s, not %s' % (stored.recipe, config.recipe)
            how = 'rerun with --recipe %s to resume it' % stored.recipe
        elif 'tuned_for' in fixed:   # fast's schedule follows the precision it computes in
            what = 'a run of %s on its %s schedule, and this run computes in %s' % (
                stored.recipe, stored.tuned_for, config.tuned_for)
            how = ('rerun with --precision %s to resume it' % stored.tuned_for
                   if recipes.computes_in(stored.tuned_for) == stored.tuned_for else
                   'it resumes only on a CPU with native bfloat16 (%s)'
                   % ' or '.join(machine.BF16_FLAGS))
        else:   # the recipe's row has changed since that run
            what = 'a run of recipe %s with %s %s (the recipe now has %s)' % (
                stored.recipe, fixed[0], *changed[fixed[0]])
            how = 'it cannot be resumed as the recipe now is'
        raise rundir.RunError('%s holds %s: %s, or choose another --checkpoint_dir to start a '
                              'new one' % (directory, what, how))
    resumes = found[-1][0] < config.steps   # else the checkpoint is only evaluated
    for name, (was, now) in changed.items():
        if resumes and name not in recipes.PLACES + ('expect', 'source'):
            math = name in recipes.CHANGES_THE_MATH or (
                name == 'steps' and stored.schedule != 'constant')
            say('resuming with %s %s (the run so far used %s)%s' % (
                name, now, was, '; this changes the training from here on' if math else ''))
    return stored, previous


class Run:
    """What the loop calls out to; ``start``: the step it resumes from."""

    def __init__(self, sess, model, config, mnist, stop, resumed, evaluate):
        self.sess, self.model, self.config, self.mnist = sess, model, config, mnist
        self.stop, self.evaluate = stop, evaluate
        self.checkpoints = checkpoints.Checkpoints(config.checkpoint_dir, model.saver,
                                                   config.keep_every, say, model.weights_saver)
        self.start = self.checkpoints.restore_or_initialise(
            sess, model.graph, model.global_step, config.recipe)
        epoch = mnist.train.num_examples // config.batch_size
        self.record = record.RunRecord(config, *resumed, self.start, epoch)

    def __enter__(self):
        c = self.config
        # run.json from the start: a fault before the first checkpoint leaves a true one.
        self.write_record(self.start, 'running', checkpoints.latest_checkpoint(c.checkpoint_dir))
        self.checkpoints.snapshot(self.sess, self.start, c.steps)
        self.writers = summaries.Writers(c.log_dir if c.summary_every else None,
                                         self.sess.graph if self.start == 0 else None)
        self.progress = progress.Progress(self.start, c.steps).__enter__()
        self.record.t0 = time.monotonic()
        return self

    def __exit__(self, *exc):
        self.stop.done = True
        self.record.t1 = self.record.t1 or time.monotonic()
        self.progress.close()
        self.writers.__exit__(*exc)

    def look_at(self, step, batch):
        """The batch's accuracy (dropout off) and TensorBoard's scalars, where due; else None."""
        c, m = self.config, self.model
        log_now = c.log_every and step % c.log_every == 0
        summarise = c.summary_every and step % c.summary_every == 0
        if not (log_now or summarise):
            return None
        full = [m.full_summaries] if summarise and m.full_summaries is not None else []
        accuracy, loss_sum, *merged = self.sess.run([m.accuracy, m.example_loss_sum] + full,
                                                    {m.x: batch[0], m.y_: batch[1]})
        if log_now:
            self.record.history.append([step, round(float(accuracy), 6)])
        if summarise:
            self.writers.scalars(self.writers.train, step, float(accuracy),
                                 float(loss_sum) / len(batch[0]))
            for summary in merged:
                self.writers.train.add_summary(summary, step)
            test, n = self.mnist.test, c.test_summary_size
            self.writers.scalars(self.writers.test, step, *self.evaluate(
                self.sess, m, test.images[:n], test.labels[:n]))
        return accuracy

    def after_step(self, step, loss):
        """004's epoch line, progress, a snapshot where due, a checkpoint where due."""
        epoch_loss = self.record.add_loss(step, loss)
        if epoch_loss is not None:
            per_epoch = self.record.steps_per_epoch
            # write-up 004's own line: epoch number, 'out of' the epochs, the summed loss
            print('Step', step // per_epoch - 1, 'out of', -(-self.config.steps // per_epoch),
                  'loss:', epoch_loss, flush=True)
        self.progress.update(step)
        every = self.config.checkpoint_every
        if every and step % every == 0:
            self.save(step, 'running')
        elif step < self.config.steps:      # the last step's follows its checkpoint: test()
            self.checkpoints.snapshot(self.sess, step, self.config.steps)

    def save(self, step, status):
        """Save step's checkpoint, write run.json, keep a snapshot if due; the prefix."""
        path = self.checkpoints.save(self.sess, step)
        self.write_record(step, status, path)
        self.checkpoints.snapshot(self.sess, step, self.config.steps)   # after: it matters less
        return path

    def write_record(self, step, status, path, test_accuracy=None):
        try:
            self.record.write(step, status, path, test_accuracy)
        except OSError as e:
            raise rundir.RunError('cannot write %s in %s: %s; the checkpoint %s is intact' % (
                record.RUN_JSON, self.config.checkpoint_dir, tfstart.tf_message(e),
                os.path.basename(path) if path else 'none')) from None

    def test(self, step):
        """Save, then test: the accuracy, or None if a stop signal came first."""
        path = self.save(step, 'running')     # 'finished' once the accuracy is known
        self.record.t1 = time.monotonic()
        test = self.mnist.test     # all 10000 digits, unless a stop signal comes
        result = None if self.stop else self.evaluate(self.sess, self.model, test.images,
                                                      test.labels, stop=self.stop)
        if result is None:
            return None
        accuracy, loss = result
        self.write_record(step, 'finished', path, test_accuracy=accuracy)
        if self.writers.test:   # TensorBoard's curve ends where the run does
            self.writers.scalars(self.writers.test, step, accuracy, loss)
        done, wall = step - self.start, self.record.seconds()
        say('%d steps in %s (%.1f steps/s); checkpoint %s' % (
            done, progress.duration(wall), done / wall if wall > 0 else 0, path))
        return accuracy

    def interrupted(self, step):
        """The loop stopped on a signal: save and say where; the exit code."""
        path = self.save(step, 'interrupted')
        say('%s: stopped after step %d; saved %s. Run the same command to %s.' % (
            self.stop.name, step, path, 'test it' if step >= self.config.steps else 'resume'))
        return 128 + self.stop.signum

    def diverged(self, step):
        """The loss became NaN: keep the last good checkpoint, say why; the exit code."""
        last = checkpoints.latest_checkpoint(self.config.checkpoint_dir)
        self.write_record(step, 'nan', last)
        why = ('log(0) in -reduce_sum(y_*log(y_conv))' if self.config.loss == 'sum_neg_log'
               else 'the loss diverged')
        print('error: cross_entropy became nan at step %d (%s); stopped without saving; last '
              'good checkpoint: %s. Try a smaller --learning_rate.'
              % (step, why, last or 'none'), file=sys.stderr)
        return 1

    def evaluate_only(self):
        """Test a checkpoint with nothing left to train; record it where run.json lacks it."""
        say('the checkpoint at step %d already reaches --steps %d: nothing to train; '
            'evaluating it' % (self.start, self.config.steps))
        self.checkpoints.snapshot(self.sess, self.start, self.config.steps)  # lost to a full disk
        test = self.mnist.test
        result = self.evaluate(self.sess, self.model, test.images, test.labels, stop=self.stop)
        self.stop.done = True   # the result is out: teardown changes nothing
        if result is None:
            say('%s: stopped during the test pass; nothing changed' % self.stop.name)
            return 128 + self.stop.signum
        record.record_test_accuracy(self.config.checkpoint_dir, self.start, result[0])
        print('test accuracy %g' % result[0], flush=True)
        return 0


def run(config, fresh, stop, build_model, evaluate, loop, mnist=None):
    """Own the directory, load, build, restore, train with ``loop``; the exit code."""
    directory = config.checkpoint_dir
    try:
        with rundir.locked(directory):
            for partial in (directory, checkpoints.snapshot_dir(directory)):
                rundir.remove_partial_files(partial)
            if fresh:   # this run's checkpoints, snapshots, run.json and event files
                rundir.remove_matching([os.path.join(directory, p) for p in (
                    'checkpoint', checkpoints.CHECKPOINT_PREFIX + '-*', record.RUN_JSON,
                    os.path.join(checkpoints.DAMAGED_DIR, '*'),
                    os.path.join(checkpoints.SNAPSHOT_DIR, checkpoints.CHECKPOINT_PREFIX + '-*'))]
                    + [os.path.join(config.log_dir, d, 'events.out.tfevents.*')
                       for d in ('train', 'test')])
            # The first line, once the directory is ours (a refused run says only why).
            line = recipes.precision_line(config)
            if line:
                say(line)
            resumed = check_resume(config)
            if mnist is None:
                mnist = mnist_data.read_data_sets(config.data_dir, one_hot=True, seed=config.seed)
            tf = tfstart.import_tf()
            if stop:
                raise signals.Interrupted(stop.signum)
            if config.seed is not None:   # batches in the seed's order
                np.random.seed(config.seed)
                # compat.v1 lacks this switch; the v2 one is process-wide and covers graphs.
                tf.compat.v2.config.experimental.enable_op_determinism()
            model = build_model(config)
            options = tfstart.session_config(config.precision)
            with tfstart.new_session(model.graph, config=options) as sess:
                the_run = Run(sess, model, config, mnist, stop, resumed, evaluate)
                if the_run.start and the_run.start >= config.steps:
                    return the_run.evaluate_only()
                if the_run.start:
                    say('resuming from %s (step %d), training to step %d' % (
                        checkpoints.latest_checkpoint(directory), the_run.start, config.steps))
                for _ in range(the_run.start):  # the batches trained on: a seeded resume's data
                    mnist.train.next_batch(config.batch_size)
                if stop:
                    raise signals.Interrupted(stop.signum)
                with the_run:
                    return loop(sess, model, mnist, config, the_run)
    except signals.Interrupted:   # before training began
        say('%s: stopped before training began; nothing was changed' % stop.name)
        return 128 + stop.signum
    except (rundir.RunError, checkpoints.CheckpointError, mnist_data.MNISTDataError) as e:
        print('error: %s' % e, file=sys.stderr)
        return 1
    except OSError as e:
        print('error: %s: %s' % (e.filename or directory, tfstart.tf_message(e)), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        say('interrupted; nothing new saved (the checkpoints in %s are as they were)' % directory)
        return 128 + (stop.signum or 2)
