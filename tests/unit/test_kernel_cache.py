"""The loader's kernels are compiled once, by one process, however many start at once.

Two processes warm an empty Numba cache at the same moment: between them each kernel's
machine code is saved once (the second waits for the first's lock, then loads it), and a
third process, like every task after `make setup`, only loads.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

WARM = "from grassroots.loading import kernel_cache; kernel_cache.warm()"
KERNELS = ("_compress", "_hmac_hex", "_utf8_of_gb18030", "_binary_rows")


def _start(cache: Path) -> subprocess.Popen:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "NUMBA_DEBUG_CACHE": "1"}
    return subprocess.Popen([sys.executable, "-c", WARM], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _saved(output: bytes) -> list[str]:
    return [line for line in output.decode().splitlines() if line.startswith("[cache] data saved")]


def test_processes_warming_at_once_compile_each_kernel_once_and_later_ones_only_load(tmp_path: Path) -> None:
    first, second = _start(tmp_path), _start(tmp_path)
    outputs = [process.communicate(timeout=900)[0] for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs
    saved = [line for output in outputs for line in _saved(output)]
    assert len(saved) == len(KERNELS), saved
    assert all(any(f"kernels.{name}-" in line for line in saved) for name in KERNELS), saved

    later = _start(tmp_path)
    output = later.communicate(timeout=900)[0]
    assert later.returncode == 0 and _saved(output) == [], output
    assert output.decode().count("[cache] data loaded") == len(KERNELS)
