"""Numba's cache of the loader's compiled kernels, filled once per checkout, one process at a time.

A kernel compiles at its first call with a new signature (~9 s for the three on this
machine's kind, more under load) and Numba then caches the machine code beside
grassroots/loading/kernels.py. Eight load tasks of a fresh checkout started at once would each
compile them (130 s each were seen under the CeleryExecutor). `make setup` runs
`python -m grassroots.loading.kernel_cache`, the Airflow launcher and the real-Airflow tests call
`warm()` before any task starts: it runs the fast path on a few rows, so every kernel is
compiled for the exact argument types the loader passes (read-only buffers, int32 offsets),
under an exclusive file lock, so a second process waits and then loads the cache instead of
compiling again.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import sys
import time
from pathlib import Path

from grassroots.loading import kernels

HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,住址,社区编码,网格编码,户号,人口类型,关注等级,独居"


def _sample_lines() -> list[str]:
    """Two registry rows whose ID numbers are built here (valid check digits, one ending in X), never kept in source."""
    from grassroots.loading.identity import check_digit

    ids = [body + check_digit(body) for body in ("11010519491231002", "11010519491231003")]
    return [
        f"{ids[0]},王芳,女,1949-12-31,13800001111,某路1号,330106001001,33010600100101,H1,户籍,1,是",
        f"{ids[1]},李明,男,1949-12-31,,,330106001001,,,,,",
    ]


def lock_path() -> Path:
    """The lock beside Numba's cache: NUMBA_CACHE_DIR, else the kernels' own __pycache__ folder."""
    folder = Path(os.environ.get("NUMBA_CACHE_DIR") or Path(kernels.__file__).parent / "__pycache__")
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "grassroots-kernels.lock"


def _exercise() -> None:
    """One small block through the fast path: the GB18030 decoder, HMAC and the binary row writer."""
    from grassroots.loading.columnar import FastPath
    from grassroots.loading.contracts import get_contract

    contract = get_contract("population_registry")
    header = [contract.header_map()[name] for name in HEADER.split(",")]
    body = ("\n".join(_sample_lines()) + "\n").encode("gb18030")
    block = FastPath(contract, header, b"warm-up, not a secret", dt.date(2026, 11, 24), 1).process_bytes(
        body, 2, "gb18030"
    )
    if block.rows == 0:
        raise RuntimeError("kernel warm-up: the fast path accepted none of its sample rows")


def warm() -> float:
    """Compile (or load from the cache) every kernel, one process at a time; return the seconds it took."""
    started = time.perf_counter()
    with open(lock_path(), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            _exercise()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return time.perf_counter() - started


if __name__ == "__main__":
    seconds = warm()
    print(f"compiled kernels ready in {seconds:.1f} s (Numba cache beside {Path(kernels.__file__).name})")
    sys.exit(0)
