"""TensorFlow start-up: ``tensorflow.compat.v1`` in graph mode without its C++ chatter,
sessions, the session options of a precision, and TensorFlow errors as one plain line.

TensorFlow is imported only when ``import_tf()`` is called, so a script answers a
wrong flag at once instead of after seconds of importing.
"""

import contextlib
import os
import re
import sys

from deep_mnist import machine

# tensorflow.compat.v1 once import_tf() has run.
tf = None


@contextlib.contextmanager
def native_stderr_muted():
    """Silence file descriptor 2 while TensorFlow's C++ side starts: its notes (absl's
    "All log messages before absl::InitializeLog()", oneDNN, the CUDA probe) ignore
    TF_CPP_MIN_LOG_LEVEL in TF 2.21 and would bury the tutorial's own lines."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def import_tf():
    """Import tensorflow.compat.v1 in graph mode, without its start-up chatter."""
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
    """A tf.Session (or InteractiveSession) without the first session's CUDA probe
    message ("failed call to cuInit") on a machine with no GPU."""
    import_tf()
    with native_stderr_muted():
        return (tf.InteractiveSession if interactive else tf.Session)(graph=graph, config=config)


def bf16_in_use(precision):
    """Whether a run in ``precision`` computes in bfloat16 here: 'bf16' on a CPU known to
    have it natively (AVX512_BF16 or AMX). Emulated bf16 would be slower than fp32, and a
    CPU whose flags cannot be read counts as one without."""
    return precision == 'bf16' and bool(machine.cpu_has_native_bf16())


def session_config(precision, jit=False, intra_threads=0, inter_threads=0):
    """The session options of a run in ``precision``: where bf16_in_use, oneDNN's graph
    rewrite to mixed precision, which runs the convolutions and matrix products in bf16
    (about 1.7x the images/s here); elsewhere None. ``jit`` (XLA's JIT for the whole
    graph) and the thread counts (0: TensorFlow's choice) are bench/'s levers; the
    product leaves them off (docs/performance.md says what they measured)."""
    if not (bf16_in_use(precision) or jit or intra_threads or inter_threads):
        return None
    import_tf()
    from tensorflow.core.protobuf import rewriter_config_pb2
    options = tf.ConfigProto(intra_op_parallelism_threads=intra_threads,
                             inter_op_parallelism_threads=inter_threads)
    if bf16_in_use(precision):
        options.graph_options.rewrite_options.auto_mixed_precision_onednn_bfloat16 = (
            rewriter_config_pb2.RewriterConfig.ON)
    if jit:
        options.graph_options.optimizer_options.global_jit_level = tf.OptimizerOptions.ON_1
    return options


# The causes a user can act on, found in TensorFlow's (or the OS's) message.
_PLAIN_REASONS = (
    (re.compile(r'no space left on device|ENOSPC|out of disk', re.I), 'no space left on device'),
    (re.compile(r'checksum|crc32c? mismatch|data ?loss|corrupt', re.I),
     'checksum mismatch: the file is damaged'),
    (re.compile(r'truncated|unexpected end|too short|past the end|out of range|read less bytes', re.I),
     'the file is truncated'),
    (re.compile(r'permission denied', re.I), 'permission denied'),
    (re.compile(r'no such file', re.I), 'a file is missing'),
)


def tf_message(error):
    """A TensorFlow (or OS) error as one plain line: the cause a user can act on where it
    is a known one (no space, checksum mismatch, truncated file, ...), else the first
    line of TensorFlow's message without its guess at a cause."""
    text = getattr(error, 'message', None) or getattr(error, 'strerror', None) or str(error)
    for pattern, reason in _PLAIN_REASONS:
        if pattern.search(text):
            return reason
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(error).__name__)
    return ' '.join(first.split(': perhaps')[0].split())[:200]
