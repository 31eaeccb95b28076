"""Run a script in fresh processes with different GRAPHC_NUM_THREADS (the native pool's size is
fixed when it starts, so each thread count needs its own process)."""
from __future__ import annotations

import os
import subprocess
import sys

import numpy as np


def outputs_per_thread_count(script: str, tmp_path, counts=("1", "2")) -> list[np.ndarray]:
    """The array `script` saves to the path it gets as sys.argv[1], once per thread count."""
    outs = []
    for threads in counts:
        path = tmp_path / f"t{threads}.npy"
        env = {**os.environ, "GRAPHC_NUM_THREADS": threads}
        subprocess.run([sys.executable, "-c", script, str(path)], check=True, env=env)
        outs.append(np.load(path))
    return outs
