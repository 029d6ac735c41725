"""What machine a run is on: the CPU's name and whether it computes bfloat16 natively.

Linux tells both through /proc/cpuinfo; macOS names its CPU through ``sysctl``; on
Windows (and wherever /proc cannot be read) the flags are unknown, and a caller treats
unknown as "no bfloat16" (fp32), which is always correct, only slower.
"""

import os
import platform
import subprocess

BF16_FLAGS = ('avx512_bf16', 'amx_bf16')
# Set, it stands in for /proc/cpuinfo's flags (space-separated; empty: none known to be
# there): how the tests, and anyone curious, see what a run does on another CPU class.
FLAGS_ENV = 'DEEP_MNIST_CPU_FLAGS'


def _cpuinfo():
    """The lines of /proc/cpuinfo, or None where there is no readable one."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            return f.read().splitlines()
    except OSError:
        return None


def _cpuinfo_field(name):
    for line in _cpuinfo() or ():
        if line.startswith(name) and ':' in line:
            return line.split(':', 1)[1].strip()
    return None


def cpu_flags():
    """The CPU's feature flags as /proc/cpuinfo lists them ($DEEP_MNIST_CPU_FLAGS instead
    where set); None where they are unknown."""
    flags = os.environ.get(FLAGS_ENV)
    if flags is None:
        flags = _cpuinfo_field('flags') or _cpuinfo_field('Features')  # x86 / ARM
    return None if flags is None else set(flags.split())


def cpu_model():
    """The CPU's model name, or None where it cannot be found out."""
    name = _cpuinfo_field('model name')
    if name:
        return name
    if platform.system() == 'Darwin':
        try:
            return subprocess.run(['sysctl', '-n', 'machdep.cpu.brand_string'], text=True,
                                  capture_output=True, timeout=5).stdout.strip() or None
        except (OSError, subprocess.SubprocessError):
            return None
    return platform.processor() or None


def cpu_has_native_bf16():
    """True or False where the flags are known; None where they are not."""
    flags = cpu_flags()
    return None if flags is None else bool(set(BF16_FLAGS) & flags)


def cpu_class():
    """The class of CPU a timing belongs to: 'bf16' (native bfloat16), 'AVX-512', 'AVX2',
    'ARM', or 'unknown'. Times measured on one class do not carry over to another."""
    flags = cpu_flags()
    if flags is None:
        return 'ARM' if platform.machine().lower() in ('arm64', 'aarch64') else 'unknown'
    if set(BF16_FLAGS) & flags:
        return 'bf16'
    if 'avx512f' in flags:
        return 'AVX-512'
    if 'avx2' in flags:
        return 'AVX2'
    if platform.machine().lower() in ('arm64', 'aarch64') or 'asimd' in flags:
        return 'ARM'
    return 'unknown'
