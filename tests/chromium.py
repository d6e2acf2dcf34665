"""Headless Chromium for the tests that check what a person sees of a report page (DOM, screenshots)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # No network: every host name fails to resolve, so only what the pages carry can show.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)


def chromium(*args: str) -> str:
    """Run Chromium with `args` in a profile of its own; return what it printed (e.g. --dump-dom)."""
    binary = shutil.which("chromium")
    assert binary, "chromium is not installed (scripts/system-deps installs it; `make test` runs that)"
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        done = subprocess.run(
            [binary, *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    return done.stdout
