"""What Linux can check of Windows and macOS: every script imports and deep_cnn.py trains,
checkpoints, resumes and refuses a second run in its directory with the Unix-only
modules unimportable (Windows has no fcntl, termios, pwd, grp, resource) and /proc
unreadable (neither has one). Each script runs in a child Python that blocks those
first; its output is checked as a user would see it."""

import json
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

# Installed in the child before the script runs: an import of a Unix-only module fails as
# it does on Windows, and opening anything under /proc fails as on Windows and macOS.
SIMULATION = r'''
import builtins, io, os, runpy, sys
BLOCKED = {'fcntl', 'termios', 'pwd', 'grp', 'resource'}
for name in BLOCKED:
    sys.modules.pop(name, None)

class NoUnixOnly:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError('No module named %r' % name, name=name)
        return None
sys.meta_path.insert(0, NoUnixOnly())

real_open = builtins.open
def no_proc_open(file, *args, **kwargs):
    if isinstance(file, (str, bytes, os.PathLike)) and os.fsdecode(file).startswith('/proc'):
        raise FileNotFoundError(2, 'No such file or directory', os.fsdecode(file))
    return real_open(file, *args, **kwargs)
builtins.open = io.open = no_proc_open

script, sys.argv = sys.argv[1], sys.argv[1:]
sys.path.insert(0, os.path.dirname(script))
try:
    runpy.run_path(script, run_name='__main__')
finally:
    assert 'fcntl' not in sys.modules, 'fcntl was imported'
'''

SCRIPTS = ['mnist_data.py', 'softmax_baseline.py', 'deep_cnn.py', 'visualize_filters.py',
           'reproduce.py']


def simulated(script, *args, timeout=300, popen=False):
    """Run a script (a path, or a name in the repository) under the simulation."""
    cmd = [sys.executable, '-c', SIMULATION, str(REPO_ROOT / script), *map(str, args)]
    if popen:
        return subprocess.Popen(cmd, cwd=REPO_ROOT, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def test_the_simulation_blocks_what_it_says(tmp_path):
    probe = tmp_path / 'probe.py'
    probe.write_text("try:\n    import fcntl\nexcept ImportError:\n    print('no fcntl')\n"
                     "try:\n    open('/proc/cpuinfo')\nexcept OSError:\n    print('no proc')\n")
    proc = simulated(probe, timeout=60)
    assert proc.stdout.split() == ['no', 'fcntl', 'no', 'proc'], proc.stderr


@pytest.mark.parametrize('script', SCRIPTS)
def test_every_script_starts(script):
    proc = simulated(script, '--help', timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert 'usage:' in proc.stdout and 'Traceback' not in proc.stderr


def test_the_data_loader_verifies_mnist(data_dir):
    proc = simulated('mnist_data.py', '--data_dir', data_dir)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.strip().splitlines()) == 3


@pytest.mark.long
def test_deep_cnn_trains_checkpoints_resumes_and_refuses_a_second_run(data_dir, tmp_path):
    ckpt, logs = tmp_path / 'run dätä' / 'ckpt', tmp_path / 'run dätä' / 'logs'
    where = ['--data_dir', data_dir, '--checkpoint_dir', ckpt, '--log_dir', logs,
             '--log_every', 5, '--summary_every', 5, '--checkpoint_every', 5,
             '--precision', 'bf16']
    first = simulated('deep_cnn.py', '--steps', 10, *where)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1].startswith('test accuracy ')
    record = json.loads((ckpt / 'run.json').read_text())
    # No /proc: the CPU is unknown, and bf16 falls back to fp32 as on a CPU without it.
    assert record['bf16_native'] is None and record['bf16_in_use'] is False
    again = simulated('deep_cnn.py', '--steps', 15, *where)
    assert again.returncode == 0, again.stderr
    assert 'resuming from' in again.stderr and 'step 10,' in again.stdout
    assert json.loads((ckpt / 'run.json').read_text())['steps'] == 15
    # The visualiser reads them and writes its figures to a path of the same kind.
    figures = tmp_path / 'figures dätä'
    drawn = simulated('visualize_filters.py', '--checkpoint_dir', ckpt, '--data_dir', data_dir,
                      '--output_dir', figures)
    assert drawn.returncode == 0, drawn.stderr
    assert (figures / 'conv1.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    # A second run while the directory is held is refused in one line.
    hold = tmp_path / 'hold.py'
    hold.write_text('import sys\nsys.path.insert(0, %r)\nfrom deep_mnist import rundir\n'
                    'with rundir.locked(%r):\n    print("locked", flush=True)\n'
                    '    sys.stdin.readline()\n' % (str(REPO_ROOT), str(ckpt)))
    holder = simulated(hold, popen=True)
    assert holder.stdout.readline().strip() == 'locked'
    refused = simulated('deep_cnn.py', '--steps', 20, *where)
    holder.stdin.write('\n')
    holder.stdin.close()
    holder.wait(timeout=60)
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [l for l in refused.stderr.splitlines()
                                                   if l.startswith('error:')]
    assert 'in use by another run' in refused.stderr
