"""`python -m grassroots secret`: a private person-key secret file, created once, never printed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _secret(state: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "GRASSROOTS_STATE_DIR": str(state)}
    env.pop("GRASSROOTS_HMAC_SECRET", None)
    env.pop("GRASSROOTS_HMAC_SECRET_FILE", None)
    return subprocess.run(
        [sys.executable, "-m", "grassroots", "secret"], env=env, capture_output=True, text=True, check=True, timeout=120
    )


def test_the_secret_command_creates_a_private_file_once_and_never_prints_the_value(tmp_path: Path) -> None:
    first = _secret(tmp_path)
    path = tmp_path / "hmac_secret"
    value = path.read_text(encoding="utf-8")
    assert len(value) == 64 and (path.stat().st_mode & 0o777) == 0o600
    assert f"export GRASSROOTS_HMAC_SECRET_FILE={path}" in first.stdout
    assert value not in first.stdout + first.stderr
    _secret(tmp_path)
    assert path.read_text(encoding="utf-8") == value, "a second call must keep the existing secret"
