"""Everything in deep-mnist that is not the tutorial: the machinery the scripts at the
top of the repository call.

- ``recipes``: deep_cnn.py's recipes (one Config row per write-up) and the run's config
- ``training``: the run around deep_cnn's loop: resume policy, schedule, checkpoints,
  TensorBoard, progress, stop signals, the test pass, exit codes
- ``checkpoints``: finding, restoring (the one place), saving, pruning, setting aside
- ``record``: run.json and the one schema every reader uses
- ``rundir``: run directories: defaults, the lock, atomic writes, partial files
- ``summaries`` and ``events``: writing TensorBoard summaries, reading event files
- ``progress``, ``signals``: steps/s and ETA on stderr; SIGINT, SIGTERM and a closed stdout
- ``tfstart``, ``machine``, ``cli``: TensorFlow start-up, the CPU, command-line types
- ``figures``: the visualiser's layout engine; ``reproduction``: reproduce.py's machinery
- ``notebook_links``: the notebook's Colab badge and clone URL, from pyproject.toml
"""
