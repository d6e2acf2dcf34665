"""`python -m grassroots airflow` starts a real Airflow on PostgreSQL, says how to log in, and stops cleanly.

The launcher runs as a user runs it (a subprocess), on a metadata database of the test's own
on the warehouse's server: it prints the UI address and a login that the api-server accepts,
Airflow lists the project's three DAGs and no example, its metadata is in PostgreSQL (never
SQLite), every component is a live process, and SIGTERM stops them all and exits 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import psycopg

from grassroots.local.airflow_stack import DAG_IDS, free_port
from grassroots.warehouse import db

ROOT = Path(__file__).resolve().parents[2]


def _read_until(process: subprocess.Popen, marker: str, timeout: float) -> str:
    """The launcher's output up to the line holding `marker` (fails if it exits or times out first)."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} from the launcher (exit {process.poll()}):\n{''.join(seen)[-5000:]}")


def _component_pids(home: Path) -> list[int]:
    """Processes whose environment names this AIRFLOW_HOME (the launcher's components and their children)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes()
        except OSError:
            continue
        if f"AIRFLOW_HOME={home}\0".encode() in environ:
            pids.append(int(proc.name))
    return pids


def test_the_launcher_serves_the_project_on_postgresql_and_stops_on_sigterm(
    server_dsn: str, warehouse_dsn: str, tmp_path: Path
) -> None:
    metadata = f"airflow_test_{uuid.uuid4().hex[:10]}"
    home, port = tmp_path / "airflow-home", free_port()
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "WAREHOUSE_DSN": warehouse_dsn,
        "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")) if p),
    }
    env.pop("GRASSROOTS_API_URL", None)  # the launcher serves the API feeds itself
    command = [sys.executable, "-m", "grassroots", "airflow", "--port", str(port), "--metadata-database", metadata]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = _read_until(process, "Ctrl-C stops every component", timeout=600)
        assert f"UI:          http://127.0.0.1:{port}" in banner
        login = re.search(r"login:\s+admin / (\S+)", banner)
        assert login, banner
        assert re.search(r"API feeds served at http://127\.0\.0\.1:\d+", banner)

        body = json.dumps({"username": "admin", "password": login.group(1)}).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        token = json.loads(urllib.request.urlopen(request, timeout=30).read())["access_token"]
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/v2/dags?limit=200", headers={"Authorization": f"Bearer {token}"}
        )
        dags = json.loads(urllib.request.urlopen(request, timeout=30).read())["dags"]
        assert sorted(dag["dag_id"] for dag in dags) == sorted(DAG_IDS), "example DAGs or a DAG missing"

        with psycopg.connect(db.with_database(server_dsn, metadata)) as conn:
            jobs = dict(
                conn.execute("select job_type, count(*) from job where state = 'running' group by job_type").fetchall()
            )
        assert {"SchedulerJob", "TriggererJob", "DagProcessorJob"} <= set(jobs), jobs
        assert not list(home.glob("*.db")), "a SQLite metadata database was created"
        components = _component_pids(home)
        assert len(components) >= 4, components  # api-server, scheduler, dag-processor, triggerer

        process.send_signal(signal.SIGTERM)
        out, _ = process.communicate(timeout=180)
        assert process.returncode == 0, out[-3000:]
        assert "stopped" in out
        assert not [pid for pid in components if Path(f"/proc/{pid}").exists()], "components outlived the launcher"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pid in _component_pids(home):  # only what this test's launcher started (its AIRFLOW_HOME)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        db.drop_database(server_dsn, metadata)
