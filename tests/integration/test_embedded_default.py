"""Without WAREHOUSE_DSN the project starts its own PostgreSQL in a project-local folder."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg


def test_embedded_server_starts_when_warehouse_dsn_is_unset(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_DSN"}
    env["GRASSROOTS_STATE_DIR"] = str(tmp_path)
    cli = [sys.executable, "-m", "grassroots", "db"]
    try:
        started = subprocess.run([*cli, "start"], env=env, capture_output=True, text=True, check=True)
        dsn = started.stdout.strip().splitlines()[-1]
        assert str(tmp_path / "pgdata") in dsn and "dbname=grassroots" in dsn
        assert (tmp_path / "pgdata" / "PG_VERSION").exists()
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == "grassroots"
            assert conn.execute("show server_version_num").fetchone()[0] >= "150000"
    finally:
        stopped = subprocess.run([*cli, "stop"], env=env, capture_output=True, text=True, check=True)
    assert stopped.stdout.strip() == "stopped"
    status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, check=True)
    assert status.stdout.startswith("not running")
