"""TensorBoard for deep_cnn.py: write-up 002's summaries of every variable and layer, and
the 'accuracy' and 'cross_entropy' scalars of the train/ and test/ writers."""

import contextlib
import os

from deep_mnist import rundir, tfstart


def scalar_summary(name, value):
    """Tagged '<name scope>/name': TF 2's tf.summary.scalar makes it 'name_1'."""
    tf = tfstart.import_tf()
    tag = tf.get_default_graph().get_name_scope() + '/' + name
    summary = tf.raw_ops.ScalarSummary(tags=tag.lstrip('/'), values=value, name=name)
    tf.add_to_collection(tf.GraphKeys.SUMMARIES, summary)


def variable_summaries(var):
    """Write-up 002's summaries of a variable: mean, stddev, max, min and a histogram."""
    tf = tfstart.import_tf()
    with tf.name_scope('summaries'):
        mean = tf.reduce_mean(var)
        scalar_summary('mean', mean)
        with tf.name_scope('stddev'):
            stddev = tf.sqrt(tf.reduce_mean(tf.square(var - mean)))
        scalar_summary('stddev', stddev)
        scalar_summary('max', tf.reduce_max(var))
        scalar_summary('min', tf.reduce_min(var))
        tf.summary.histogram('histogram', var)


def add_full_summaries(net):
    """002's summaries of every variable and layer; the op merging them all (build it last)."""
    tf = tfstart.import_tf()
    for name, var in net.variables.items():
        with tf.name_scope(name):
            variable_summaries(var)
    layers = net.layers
    for name in ('h_conv1', 'h_conv2', 'h_fc1', 'logits'):
        if name in layers:
            tf.summary.histogram(name + '/activations', layers[name])
    tf.summary.image('preprocess', layers['x_image'], 10)
    tf.summary.image('W_conv1/filters', tf.transpose(layers['W_conv1'], perm=[3, 0, 1, 2]), 10)
    if 'W_conv2' in layers:
        tf.summary.image('W_conv2/filters', tf.reshape(
            tf.transpose(layers['W_conv2'], perm=[2, 3, 0, 1]), [-1, 5, 5, 1]), 20)
    for name in ('h_conv1', 'h_pool1', 'h_conv2', 'h_pool2'):
        if name in layers:      # [N, s, s, C] maps as N*C one-channel images, as 002 shows them
            h = layers[name]
            tf.summary.image(name + ('/pooled' if 'pool' in name else '/convolved'), tf.reshape(
                tf.transpose(h, perm=[0, 3, 1, 2]), [-1, h.shape[1], h.shape[2], 1]), 10)
    scalar_summary('dropout_keep_probability', net.keep_prob)
    return tf.summary.merge_all()


class Writers(contextlib.ExitStack):
    """A run's train/ and test/ event writers (none without a ``log_dir``), closed on exit."""

    def __init__(self, log_dir, graph=None):
        super().__init__()
        tf = tfstart.import_tf()
        self.train = self.test = None
        if log_dir is None:
            return
        try:
            self.train = tf.summary.FileWriter(os.path.join(log_dir, 'train'), graph)
            self.callback(self.train.close)
            self.test = tf.summary.FileWriter(os.path.join(log_dir, 'test'))
            self.callback(self.test.close)
        except tf.errors.OpError as e:
            raise rundir.RunError('cannot write TensorBoard logs into %s: %s'
                                  % (log_dir, tfstart.tf_message(e))) from None

    @staticmethod
    def scalars(writer, step, accuracy, cross_entropy):
        """'accuracy' and 'cross_entropy' at ``step``, tagged alike in train/ and test/ so
        TensorBoard overlays them (a summary op beside the 'accuracy' scope is 'accuracy_1')."""
        tf = tfstart.import_tf()
        writer.add_summary(tf.Summary(value=[
            tf.Summary.Value(tag='accuracy', simple_value=accuracy),
            tf.Summary.Value(tag='cross_entropy', simple_value=cross_entropy)]), step)
