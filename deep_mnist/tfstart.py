"""``tensorflow.compat.v1`` in graph mode without its C++ chatter, sessions, and errors as one
line. TensorFlow is imported only by ``import_tf()``, so a wrong flag is answered at once."""

import contextlib
import os
import re
import sys

from deep_mnist import machine

tf = None   # tensorflow.compat.v1 once import_tf() has run


@contextlib.contextmanager
def native_stderr_muted():
    """Silence file descriptor 2 while TensorFlow's C++ side starts: its notes (absl,
    oneDNN, the CUDA probe) ignore TF_CPP_MIN_LOG_LEVEL in TF 2.21."""
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tf():
    global tf
    if tf is None:
        os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
        with native_stderr_muted():
            import tensorflow.compat.v1 as tf_v1
        tf_v1.disable_eager_execution()
        tf_v1.logging.set_verbosity(tf_v1.logging.ERROR)
        tf = tf_v1
    return tf


def new_session(graph=None, interactive=False, config=None):
    """A tf.Session (or InteractiveSession), without the CUDA probe's note where no GPU is."""
    import_tf()
    with native_stderr_muted():
        return (tf.InteractiveSession if interactive else tf.Session)(graph=graph, config=config)


def bf16_in_use(precision):
    """Only where the CPU is known to have bf16 natively: emulated, it is slower than fp32."""
    return precision == 'bf16' and bool(machine.cpu_has_native_bf16())


def session_config(precision, jit=False, intra_threads=0, inter_threads=0):
    """A run's session options (None: TF's defaults); jit and threads: docs/performance.md."""
    bf16 = bf16_in_use(precision)
    if not (bf16 or jit or intra_threads or inter_threads):
        return None
    import_tf()
    from tensorflow.core.protobuf import rewriter_config_pb2
    options = tf.ConfigProto(intra_op_parallelism_threads=intra_threads,
                             inter_op_parallelism_threads=inter_threads)
    if bf16:
        options.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
            rewriter_config_pb2.RewriterConfig.ON)
    if jit:
        options.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    return options


# The causes a user can act on, found in TensorFlow's (or the OS's) message.
_PLAIN_REASONS = {
    r'no space left on device|ENOSPC|out of disk': 'no space left on device',
    r'checksum|crc32c? mismatch|data ?loss|corrupt': 'checksum mismatch: the file is damaged',
    r'truncated|unexpected end|too short|past the end|out of range|read less bytes':
        'the file is truncated',
    r'permission denied': 'permission denied',
    r'no such file': 'a file is missing',
}


def tf_message(error):
    """A TensorFlow (or OS) error as one line: a known cause, else its message's first line."""
    text = getattr(error, 'message', None) or getattr(error, 'strerror', None) or str(error)
    for pattern, reason in _PLAIN_REASONS.items():
        if re.search(pattern, text, re.I):
            return reason
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return ' '.join(first.split(': perhaps')[0].split())[:200]
