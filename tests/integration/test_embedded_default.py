"""Without WAREHOUSE_DSN the project starts its own PostgreSQL in a project-local folder."""

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from grassroots.local import embedded
from tests.conftest import free_port


def test_embedded_server_starts_when_warehouse_dsn_is_unset(tmp_path: Path) -> None:
    """It serves the project on its Unix socket (trusted), and BI tools on TCP 127.0.0.1 at
    GRASSROOTS_EMBEDDED_PORT, where only a login with the right password gets in."""
    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_DSN"}
    env["GRASSROOTS_STATE_DIR"] = str(tmp_path)
    port = free_port()
    env["GRASSROOTS_EMBEDDED_PORT"] = str(port)
    tcp = f"host=127.0.0.1 port={port} dbname=grassroots"
    cli = [sys.executable, "-m", "grassroots", "db"]
    try:
        started = subprocess.run([*cli, "start"], env=env, capture_output=True, text=True, check=True)
        dsn = started.stdout.strip().splitlines()[-1]
        assert str(tmp_path / "pgdata") in dsn and "dbname=grassroots" in dsn
        assert (tmp_path / "pgdata" / "PG_VERSION").exists()
        assert embedded.tcp_address(tmp_path / "pgdata") == ("127.0.0.1", port)
        with psycopg.connect(dsn) as conn:
            assert conn.execute("select current_database()").fetchone()[0] == "grassroots"
            assert conn.execute("show server_version_num").fetchone()[0] >= "150000"
            assert conn.execute("select inet_server_addr()").fetchone()[0] is None, "the project uses the socket"
            conn.execute("create role gr_tcp_probe login password 'probe-password'")
        with psycopg.connect(f"{tcp} user=gr_tcp_probe password=probe-password") as conn:
            assert str(conn.execute("select inet_server_addr()").fetchone()[0]) == "127.0.0.1"
        for refused in ("user=gr_tcp_probe password=wrong", "user=postgres", "user=postgres password=postgres"):
            with pytest.raises(psycopg.OperationalError):
                psycopg.connect(f"{tcp} {refused}", connect_timeout=5)
    finally:
        stopped = subprocess.run([*cli, "stop"], env=env, capture_output=True, text=True, check=True)
    assert stopped.stdout.strip() == "stopped"
    status = subprocess.run([*cli, "status"], env=env, capture_output=True, text=True, check=True)
    assert status.stdout.startswith("not running")
