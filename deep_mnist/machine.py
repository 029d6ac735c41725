"""The machine a run is on: its CPU's name and whether it computes bfloat16 natively.
Where /proc/cpuinfo cannot tell (Windows, macOS), the flags are unknown, which callers
take as "no bfloat16" (fp32): always correct, only slower."""

import os
import platform
import subprocess

BF16_FLAGS = ('avx512_bf16', 'amx_bf16')
# Set, it stands in for /proc/cpuinfo's flags (space-separated): how the tests, and anyone
# curious, see what a run does on another CPU class.
FLAGS_ENV = 'DEEP_MNIST_CPU_FLAGS'


def _cpuinfo_field(name):
    try:
        with open('/proc/cpuinfo', encoding='utf-8', errors='replace') as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    return next((line.split(':', 1)[1].strip() for line in lines
                 if line.startswith(name) and ':' in line), None)


def cpu_flags():
    """The CPU's feature flags ($DEEP_MNIST_CPU_FLAGS where set); None where unknown."""
    flags = os.environ.get(FLAGS_ENV)
    if flags is None:
        flags = _cpuinfo_field('flags') or _cpuinfo_field('Features')  # x86 / ARM
    return None if flags is None else set(flags.split())


def cpu_model():
    """The CPU's model name, or None where it cannot be found out."""
    name = _cpuinfo_field('model name')
    if name or platform.system() != 'Darwin':
        return name or platform.processor() or None
    try:
        return subprocess.run(['sysctl', '-n', 'machdep.cpu.brand_string'], text=True,
                              capture_output=True, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def description():
    """The one machine string of run.json and the report: 'Linux x86_64, AMD EPYC 7B13, 2 cores'."""
    return '%s %s, %s, %d cores' % (platform.system(), platform.machine(),
                                    cpu_model() or 'unknown CPU', os.cpu_count() or 0)


def cpu_has_native_bf16():
    """True or False; None where the flags are unknown."""
    flags = cpu_flags()
    return None if flags is None else bool(set(BF16_FLAGS) & flags)


def cpu_class():
    """'bf16', 'AVX-512', 'AVX2', 'ARM' or 'unknown': bench/ labels its timings with it,
    since times measured on one class do not carry over to another."""
    flags = cpu_flags() or set()
    arm = platform.machine().lower() in ('arm64', 'aarch64') or 'asimd' in flags
    return next((name for name, found in (
        ('bf16', set(BF16_FLAGS) & flags), ('AVX-512', 'avx512f' in flags),
        ('AVX2', 'avx2' in flags), ('ARM', arm)) if found), 'unknown')
