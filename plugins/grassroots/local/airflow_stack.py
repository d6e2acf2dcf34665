"""A real local Airflow for the project: api-server, scheduler, dag-processor, triggerer (and Celery workers).

`python -m grassroots airflow` (`make airflow`) starts it on a PostgreSQL metadata database
(`airflow`, a database of its own on the embedded server, or on WAREHOUSE_DSN's server; never
SQLite), with the LocalExecutor, no example DAGs, the person-key secret, the departments' feed
endpoint (`GRASSROOTS_API_URL`) and every setting the DAGs need, prints the UI address and
login, and stops every component on Ctrl-C or SIGTERM. The same `Cluster` starts the
components of the real-Airflow tests (tests/airflow_cluster.py) on a temporary AIRFLOW_HOME.

Every process gets the same JWT, API and Fernet secrets and execution API address (a task's
token, signed by the api-server, is checked by it; workers reach it at that address). Each
component runs in a session of its own, so a Ctrl-C in the terminal reaches only the launcher,
which stops the components in order (workers and scheduler first, the api-server last) and
their task processes with them.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from psycopg.conninfo import conninfo_to_dict

log = logging.getLogger(__name__)

METADATA_DATABASE = "airflow"
DAG_IDS = ("grassroots_ingest", "grassroots_warehouse", "grassroots_scoring")  # ingest first
DEFAULT_API_PORT = 8080
ADMIN = "admin"
STOP_TIMEOUT = 30.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def sqlalchemy_url(dsn: str, driver: str = "postgresql+psycopg2") -> str:
    """SQLAlchemy's URL for a libpq DSN (a Unix-socket host goes into the query, as psycopg2 takes it)."""
    from sqlalchemy.engine import URL

    params = conninfo_to_dict(dsn)
    host = str(params.get("host") or "")
    socket_dir = host.startswith("/")
    query = {"host": host} if socket_dir else {}
    if socket_dir and params.get("port"):
        query["port"] = str(params["port"])
    url = URL.create(
        driver,
        username=params.get("user"),
        password=params.get("password"),
        host=None if socket_dir else host or None,
        port=None if socket_dir or not params.get("port") else int(params["port"]),
        database=params.get("dbname"),
        query=query,
    )
    return url.render_as_string(hide_password=False)


def worker_hostname() -> str:
    """The hostname a task instance records (`[core] hostname_callable` of the Celery workers):
    the worker's name when GRASSROOTS_WORKER_NAME is set, so two workers on one machine differ."""
    name = os.environ.get("GRASSROOTS_WORKER_NAME")
    return name or socket.getfqdn()


def _secret_file(path: Path, make: str) -> str:
    """A value kept in a file readable by its owner only, created once (secrets shared by every process)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(make)
    return make


@dataclass
class Component:
    """One running Airflow process (its own session) and the file its output goes to."""

    name: str
    process: subprocess.Popen
    log_file: Path


@dataclass
class Cluster:
    """Airflow's components on one AIRFLOW_HOME and metadata database.

    `metadata_dsn`: a libpq DSN of the metadata database (created beforehand); `executor`:
    LocalExecutor or CeleryExecutor (then `workers` Celery workers on `broker_url`);
    `env`: the grassroots settings the DAGs need (WAREHOUSE_DSN, GRASSROOTS_API_URL, …).
    """

    home: Path
    metadata_dsn: str
    dags_folder: Path
    env: Mapping[str, str] = field(default_factory=dict)
    executor: str = "LocalExecutor"
    workers: int = 0
    worker_concurrency: int = 2
    broker_url: str | None = None
    api_port: int = 0
    parallelism: int = 8
    paused_at_creation: bool = True
    components: list[Component] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.api_port = self.api_port or free_port()
        self.log_dir = self.home / "components"
        self.log_dir.mkdir(exist_ok=True)
        self._token: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self) -> dict[str, str]:
        """The environment every component (and `airflow` CLI call) runs with."""
        from grassroots import settings

        plugins = settings.project_root() / "plugins"
        python_path = os.pathsep.join(p for p in (str(plugins), os.environ.get("PYTHONPATH", "")) if p)
        env = {
            **os.environ,
            **self.env,
            "PYTHONPATH": python_path,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags_folder),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": str(self.paused_at_creation),
            "AIRFLOW__CORE__FERNET_KEY": self._fernet_key(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{ADMIN}:admin",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sqlalchemy_url(self.metadata_dsn),
            # Small pools: six components (and the tests' clusters) share one server's max_connections
            # (100 by default) with the warehouse's tasks; Airflow's default is 5 + 10 per process.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_POOL_SIZE": "2",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_MAX_OVERFLOW": "4",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": _secret_file(self.home / "api_secret_key", secrets.token_urlsafe(32)),
            "AIRFLOW__API_AUTH__JWT_SECRET": _secret_file(self.home / "jwt_secret", secrets.token_urlsafe(32)),
            "AIRFLOW__API_AUTH__JWT_ISSUER": "grassroots",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._port("worker_log_server")),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self._port("trigger_log_server")),
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            "GX_ANALYTICS_ENABLED": "false",
            "NO_COLOR": "1",
        }
        if self.executor == "CeleryExecutor":
            if not self.broker_url:
                raise ValueError("the CeleryExecutor needs a broker_url (redis://host:port/db)")
            env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = "db+" + sqlalchemy_url(self.metadata_dsn)
            env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] = str(self.worker_concurrency)
        return env

    def write_env_file(self) -> Path:
        """`<AIRFLOW_HOME>/airflow.env` (mode 600): what an `airflow` CLI in another terminal needs to
        reach this metadata database (`set -a; . .grassroots/airflow/airflow.env; set +a`)."""
        keys = ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER", "AIRFLOW__CORE__LOAD_EXAMPLES", "AIRFLOW__CORE__EXECUTOR")
        env = self.environment()
        lines = [f"{key}={shlex.quote(env[key])}" for key in keys]
        lines.append(f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={shlex.quote(env['AIRFLOW__DATABASE__SQL_ALCHEMY_CONN'])}")
        # where `python -m grassroots backfill` finds this Airflow's REST API
        lines.append(f"AIRFLOW__API__BASE_URL={shlex.quote(env['AIRFLOW__API__BASE_URL'])}")
        path = self.home / "airflow.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        return path

    def _port(self, name: str) -> int:
        """A port per purpose, chosen once per cluster (several clusters may run on one machine)."""
        ports = self.__dict__.setdefault("_ports", {})
        if name not in ports:
            ports[name] = free_port()
        return ports[name]

    def _fernet_key(self) -> str:
        import base64

        return _secret_file(self.home / "fernet_key", base64.urlsafe_b64encode(os.urandom(32)).decode())

    # --- processes -------------------------------------------------------------------------------

    def airflow(self, *args: str, check: bool = True, **kwargs: object) -> subprocess.CompletedProcess:
        """Run an `airflow` CLI command in the cluster's environment."""
        return subprocess.run(
            [sys.executable, "-m", "airflow", *args],
            env=self.environment(),
            check=check,
            capture_output=True,
            text=True,
            **kwargs,
        )

    def migrate(self) -> None:
        """Create or upgrade the metadata database."""
        result = self.airflow("db", "migrate", check=False)
        if result.returncode:
            raise RuntimeError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")

    def _spawn(
        self, name: str, args: list[str], extra: Mapping[str, str] | None = None, *, forks_tasks: bool = False
    ) -> None:
        """Start `airflow <args>`; a component that forks task processes (`forks_tasks`) starts through
        grassroots.orchestration.task_host, with the tasks' libraries imported once."""
        log_file = self.log_dir / f"{name}.log"
        module = "grassroots.orchestration.task_host" if forks_tasks else "airflow"
        with open(log_file, "ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                env={**self.environment(), **(extra or {})},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_own_session,  # noqa: PLW1509 (prctl must run in the child; start_new_session cannot)
            )
        self.components.append(Component(name, process, log_file))
        log.info("started %s (pid %d), log %s", name, process.pid, log_file)

    def start(self) -> None:
        """Migrate the metadata database and start every component (not waiting for them)."""
        self.migrate()
        self._spawn("api-server", ["api-server", "--port", str(self.api_port), "--host", "127.0.0.1"])
        self._spawn("dag-processor", ["dag-processor"])
        self._spawn("triggerer", ["triggerer"])
        # Under the LocalExecutor the scheduler's executor workers fork the tasks.
        self._spawn("scheduler", ["scheduler"], forks_tasks=self.executor == "LocalExecutor")
        for number in range(1, self.workers + 1):
            name = f"worker{number}"
            self._spawn(
                name,
                ["celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", str(self.worker_concurrency)],
                {
                    "GRASSROOTS_WORKER_NAME": name,
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "grassroots.local.airflow_stack.worker_hostname",
                    # each worker serves its task logs on a port of its own
                    "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self._port(f"{name}_log_server")),
                },
                forks_tasks=True,
            )

    def dead(self) -> list[str]:
        """Components that exited (with their exit codes)."""
        return [f"{c.name} (exit {c.process.returncode})" for c in self.components if c.process.poll() is not None]

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM every component's session (workers and scheduler first, the api-server last); SIGKILL
        what is still there after `timeout` seconds. Safe to call twice."""
        # Workers (rank 0) first; the api-server last, since finishing tasks report to it.
        rank = {"scheduler": 1, "triggerer": 2, "dag-processor": 3, "api-server": 4}
        for component in sorted(self.components, key=lambda c: rank.get(c.name, 0)):
            _signal_session(component.process, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while component.process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            _signal_session(component.process, signal.SIGKILL)  # task processes left in its session too
            with contextlib.suppress(subprocess.TimeoutExpired):
                component.process.wait(5)
        self.components.clear()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- health and the REST API -----------------------------------------------------------------

    def wait_healthy(self, timeout: float = 300.0, dag_ids: tuple[str, ...] = ()) -> None:
        """Wait until the api-server answers, scheduler, triggerer and dag-processor heartbeat, the
        Celery workers are ready and `dag_ids` are parsed; raise (with the logs' tails) otherwise."""
        deadline = time.monotonic() + timeout
        pending = "the api-server"
        while time.monotonic() < deadline:
            if self.dead():
                raise RuntimeError(f"components exited: {', '.join(self.dead())}\n{self.log_tails()}")
            pending = self._not_ready(dag_ids)
            if not pending:
                return
            time.sleep(2)
        raise TimeoutError(f"Airflow not ready after {timeout:.0f} s: {pending}\n{self.log_tails()}")

    def _not_ready(self, dag_ids: tuple[str, ...]) -> str:
        try:
            health = self._request("GET", "/api/v2/monitor/health", auth=False)
        except (OSError, urllib.error.URLError):
            return "the api-server"
        unhealthy = [name for name, part in health.items() if part and part.get("status") != "healthy"]
        if unhealthy or "dag_processor" not in health:
            return f"components not healthy: {unhealthy or ['dag_processor']}"
        for component in self.components:
            if component.name.startswith("worker") and b" ready." not in component.log_file.read_bytes():
                return f"{component.name} not ready"
        if dag_ids:
            known = {dag["dag_id"] for dag in self.api("GET", "/api/v2/dags?limit=100")["dags"]}
            errors = self.api("GET", "/api/v2/importErrors")["import_errors"]
            if errors:
                raise RuntimeError(f"DAG import errors: {errors}")
            if missing := set(dag_ids) - known:
                return f"DAGs not parsed yet: {sorted(missing)}"
        return ""

    def log_tails(self, lines: int = 30) -> str:
        """The last lines of every component's log (for failure messages)."""
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            tail = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def admin_password(self) -> str:
        """The admin's password, generated by the simple auth manager into AIRFLOW_HOME at first start."""
        passwords = json.loads((self.home / "simple_auth_manager_passwords.json.generated").read_text())
        return passwords[ADMIN]

    def _request(self, method: str, path: str, body: object = None, auth: bool = True) -> dict:
        headers = {"Content-Type": "application/json"}
        if auth:
            headers["Authorization"] = f"Bearer {self._access_token()}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, headers=headers, method=method)
        with urllib.request.urlopen(request, timeout=30) as response:
            text = response.read()
        return json.loads(text) if text else {}

    def _access_token(self) -> str:
        if self._token is None:
            body = {"username": ADMIN, "password": self.admin_password()}
            self._token = self._request("POST", "/auth/token", body, auth=False)["access_token"]
        return self._token

    def api(self, method: str, path: str, body: object = None) -> dict:
        """Call the REST API as the admin (a token from the simple auth manager)."""
        try:
            return self._request(method, path, body)
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            raise RuntimeError(f"{method} {path}: HTTP {error.code}: {detail}") from None

    # --- runs ---------------------------------------------------------------------------------------

    def unpause(self, dag_id: str) -> None:
        self.api("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def runs(self, dag_id: str) -> list[dict]:
        """Every run of a DAG (id, state, type, conf, …), oldest first."""
        return self.api("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=run_after&limit=1000")["dag_runs"]

    def trigger_day(self, dag_id: str, day: dt.date, conf: Mapping[str, object] | None = None) -> str:
        """Start a run of `dag_id` for `day`; return its run id. The one place that says how a run
        is for a day: its partition key, the day (`YYYY-MM-DD`, REST `partition_key`), as the
        scheduler's and the backfill's runs have it. The DAG is unpaused.

        Unpausing the ingest DAG also makes the scheduler start its latest day (yesterday's
        partition), as it would for anyone: its waits sit in the triggerer until the files or
        the deadline come (`GRASSROOTS_CATCHUP_FROM` set to a later day keeps the scheduler from
        starting any day of its own).
        """
        body: dict[str, object] = {"logical_date": None, "partition_key": day.isoformat(), "conf": dict(conf or {})}
        run = self.api("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)
        if self.api("GET", f"/api/v2/dags/{dag_id}")["is_paused"]:
            self.unpause(dag_id)
        return run["dag_run_id"]

    def run_day(
        self, day: dt.date, trigger: str, expect: tuple[str, ...], timeout: float = 1800.0, poll: float = 3.0
    ) -> dict[str, list[dict]]:
        """Trigger `trigger` for `day` and wait until every DAG in `expect` (the triggered one and
        those its Assets start) has a finished run for the day started since: {dag_id: its new runs
        for the day}. Raises TimeoutError with the runs' states (and the components' logs) when they
        do not finish. Runs of other days (the scheduler's own) are left alone."""
        for dag_id in expect:
            if dag_id != trigger:  # Asset-scheduled: unpausing starts nothing by itself
                self.unpause(dag_id)
        before = self.run_ids(expect)
        self.trigger_day(trigger, day)
        return self.wait_days([day.isoformat()], before, expect, timeout=timeout, poll=poll)

    def backfill(self, first: dt.date, last: dt.date, dag_id: str = DAG_IDS[0]) -> dict:
        """Airflow's own backfill (REST `POST /api/v2/backfills`) of days `first`..`last` of `dag_id`;
        return the backfill (its `id`, …). The DAGs are unpaused first: Airflow starts no run of a
        paused DAG, backfill or not, and the days' Asset events start the warehouse and scoring.

        `from_date`/`to_date` (`backfill_window`) make exactly one run per day, keyed `YYYY-MM-DD`;
        one run at a time (`max_active_runs=1`) in day order (never `run_backwards`);
        `reprocess_behavior=completed`: a day that already ran is run again (a new run beside the
        old one), so a second backfill of the same range rebuilds every day once more.
        """
        for dag_id_ in DAG_IDS:
            self.unpause(dag_id_)
        from_date, to_date = backfill_window(first, last)
        body = {
            "dag_id": dag_id,
            "from_date": from_date,
            "to_date": to_date,
            "max_active_runs": 1,
            "run_backwards": False,
            "reprocess_behavior": "completed",
        }
        return self.api("POST", "/api/v2/backfills", body)

    def backfill_days(
        self, first: dt.date, last: dt.date, timeout: float = 3600.0, on_day: Callable[[dict], None] | None = None
    ) -> dict[str, list[dict]]:
        """Rebuild days `first`..`last` in day order, each through ingest, warehouse and scoring before
        the next: an Airflow backfill of the ingest DAG per day, waited for with the warehouse and
        scoring runs its Asset events start. Return {dag_id: the runs, one per day, in day order}.

        A day at a time, not one backfill of the range: within one backfill the ingest of the next
        day runs while the warehouse builds the day before, and a month's periods (which read every
        loaded day of the month) would be held for a month with a half-loaded day in it.
        """
        runs: dict[str, list[dict]] = {dag_id: [] for dag_id in DAG_IDS}
        for n in range((last - first).days + 1):
            day = first + dt.timedelta(days=n)
            before = self.run_ids()
            created = self.backfill(day, day)
            self.wait_backfill(created["id"], timeout=timeout)
            done = self.wait_days([day.isoformat()], before, timeout=timeout)
            for dag_id, dag_runs in done.items():
                runs[dag_id] += dag_runs
            if on_day:
                on_day(done)
        return runs

    def wait_backfill(self, backfill_id: int, timeout: float = 3600.0, poll: float = 2.0) -> dict:
        """Wait until Airflow marks the backfill completed (every run of it finished); return it."""
        deadline = time.monotonic() + timeout
        while True:
            backfill = self.api("GET", f"/api/v2/backfills/{backfill_id}")
            if backfill.get("completed_at"):
                return backfill
            if self.dead() or time.monotonic() > deadline:
                raise TimeoutError(f"backfill {backfill_id} not completed; dead: {self.dead()}\n{self.log_tails()}")
            time.sleep(poll)

    def run_ids(self, dag_ids: tuple[str, ...] = DAG_IDS) -> dict[str, set[str]]:
        """The run ids of each DAG now (to tell the runs started after)."""
        return {dag_id: {run["dag_run_id"] for run in self.runs(dag_id)} for dag_id in dag_ids}

    def wait_days(
        self,
        keys: list[str],
        before: Mapping[str, set[str]],
        dag_ids: tuple[str, ...] = DAG_IDS,
        timeout: float = 3600.0,
        poll: float = 2.0,
    ) -> dict[str, list[dict]]:
        """Wait until every DAG of `dag_ids` has, among its runs not in `before`, a run for each
        partition key of `keys` and all of them finished; return {dag_id: those runs, oldest first}.
        Runs for other days (a scheduled day waiting for its files) are left alone."""
        deadline = time.monotonic() + timeout
        while True:
            new = {
                dag_id: [
                    run
                    for run in self.runs(dag_id)
                    if run["dag_run_id"] not in before.get(dag_id, set()) and run.get("partition_key") in keys
                ]
                for dag_id in dag_ids
            }
            done = all(
                {run["partition_key"] for run in runs} >= set(keys)
                and all(run["state"] in ("success", "failed") for run in runs)
                for runs in new.values()
            )
            if done:
                return new
            if self.dead() or time.monotonic() > deadline:
                states = {d: [(r["partition_key"], r["state"]) for r in runs] for d, runs in new.items()}
                raise TimeoutError(f"runs for {keys} not finished: {states}; dead: {self.dead()}\n{self.log_tails()}")
            time.sleep(poll)

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        """The task instances of a run (task_id, state, hostname, try_number, …)."""
        path = f"/api/v2/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}/taskInstances?limit=1000"
        return self.api("GET", path)["task_instances"]


def backfill_window(first: dt.date, last: dt.date) -> tuple[str, str]:
    """The `from_date`/`to_date` of Airflow's backfill for days `first`..`last` of the ingest DAG.

    For a partitioned DAG they bound the partition dates (each day's 06:00 Shanghai tick), read as
    wall-clock times in the timetable's zone: from the first day's midnight to the last day's
    23:59:59, so the last day's 06:00 tick is inside (a bare `--to-date` of the last day is its
    midnight, before that tick, and leaves the day out).
    """
    return f"{first.isoformat()}T00:00:00Z", f"{last.isoformat()}T23:59:59Z"


def _own_session() -> None:
    """In the component, before exec: a session of its own (a Ctrl-C reaches the launcher only, which
    stops the components in order), and SIGTERM when the launcher dies without stopping it (Linux)."""
    os.setsid()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _signal_session(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


# --- the launcher -----------------------------------------------------------------------------------


def metadata_database(server_dsn: str, name: str = METADATA_DATABASE) -> str:
    """The metadata database `name` on the server of `server_dsn` (created if missing)."""
    from grassroots.warehouse import db

    db.ensure_database(db.with_database(server_dsn, "postgres"), name)
    return db.with_database(server_dsn, name)


@contextlib.contextmanager
def _stop_signals() -> Iterator[list[int]]:
    """Collect SIGINT/SIGTERM instead of raising, so the components are stopped in order."""
    received: list[int] = []

    def handler(signum: int, _frame: object) -> None:
        received.append(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def run(args: argparse.Namespace) -> int:
    """`python -m grassroots airflow`: start everything, print where it is, stop on Ctrl-C / SIGTERM."""
    from grassroots import settings
    from grassroots.local import embedded, project_env

    project_env.configure()
    from_env = bool(os.environ.get("WAREHOUSE_DSN") or os.environ.get("WAREHOUSE_DSN_FILE"))
    from grassroots.generator import feed_server
    from grassroots.warehouse import db

    warehouse = db.warehouse_dsn()  # starts the embedded server when WAREHOUSE_DSN is unset
    metadata = metadata_database(warehouse, args.metadata_database)
    server = None
    if not os.environ.get("GRASSROOTS_API_URL"):  # the departments' APIs: serve generated pages locally
        server, os.environ["GRASSROOTS_API_URL"] = feed_server.serve(settings.landing_dir())
    env = {
        key: os.environ[key]
        for key in os.environ
        if key.startswith(("GRASSROOTS_", "WAREHOUSE_DSN")) and key != "GRASSROOTS_DSN_FROM_ENV"
    }
    cluster = Cluster(
        home=project_env.airflow_home(),
        metadata_dsn=metadata,
        dags_folder=settings.project_root() / "dags",
        env=env,
        executor=args.executor,
        workers=args.workers if args.executor == "CeleryExecutor" else 0,
        broker_url=args.broker_url,
        api_port=args.port,
    )
    status = 0
    with _stop_signals() as received:
        try:
            cluster.start()
            cluster.wait_healthy(timeout=args.timeout, dag_ids=DAG_IDS)
            env_file = cluster.write_env_file()
            _print_ready(cluster, metadata, from_env, env_file)
            if args.day:
                for dag_id in DAG_IDS[1:]:  # Asset-scheduled: they run when ingest announces the day
                    cluster.unpause(dag_id)
                run_id = cluster.trigger_day(DAG_IDS[0], args.day)
                print(f"triggered {DAG_IDS[0]} for {args.day} ({run_id})", flush=True)
            while not received:
                if cluster.dead():
                    print(f"stopping: {', '.join(cluster.dead())}; logs in {cluster.log_dir}", file=sys.stderr)
                    status = 1
                    break
                time.sleep(1)
        except (RuntimeError, TimeoutError) as error:
            print(error, file=sys.stderr)
            status = 1
        finally:
            print("stopping Airflow …", flush=True)
            cluster.stop()
            if server is not None:
                server.shutdown()
            if not from_env:
                embedded.stop(embedded.pgdata_dir(settings.state_dir()))
            print("stopped", flush=True)
    return status


def _print_ready(cluster: Cluster, metadata: str, from_env: bool, env_file: Path) -> None:
    from grassroots import settings

    params = conninfo_to_dict(metadata)
    where = "WAREHOUSE_DSN's server" if from_env else "the embedded PostgreSQL"
    workers = f", {cluster.workers} Celery workers" if cluster.workers else ""
    print(
        f"""
Airflow is up ({cluster.executor}{workers}).
  UI:          {cluster.api_url}
  login:       {ADMIN} / {cluster.admin_password()}
               (generated; kept in {cluster.home / "simple_auth_manager_passwords.json.generated"})
  metadata DB: database {params.get("dbname")!r} on {where}
  logs:        {cluster.log_dir} (components), {cluster.home / "logs"} (tasks)
  feeds:       {settings.landing_dir()} (API feeds served at {os.environ["GRASSROOTS_API_URL"]})
  airflow CLI: set -a; . {env_file}; set +a

Run a day: `python -m grassroots generate --date 2026-11-24`, then in the UI unpause
grassroots_warehouse and grassroots_scoring and trigger grassroots_ingest with the partition
key 2026-11-24 (or start this command with --day 2026-11-24).
Days in order: python -m grassroots backfill --from 2026-11-24 --to 2026-11-26 [--wait]
Ctrl-C stops every component.""",
        flush=True,
    )


# --- backfill -----------------------------------------------------------------------------------------


def running_cluster(home: Path) -> Cluster:
    """A client of the Airflow `python -m grassroots airflow` started on `home` (its REST API and login)."""
    from grassroots import settings

    env_file = home / "airflow.env"
    if not env_file.exists():
        raise RuntimeError(f"no {env_file}: start Airflow first (`python -m grassroots airflow`)")
    values = dict(shlex.split(line)[0].split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    url = values.get("AIRFLOW__API__BASE_URL")
    if not url:
        raise RuntimeError(f"{env_file} names no API address: restart `python -m grassroots airflow`")
    port = urllib.parse.urlsplit(url).port or DEFAULT_API_PORT
    return Cluster(home=home, metadata_dsn="", dags_folder=settings.project_root() / "dags", api_port=port)


def backfill(args: argparse.Namespace) -> int:
    """`python -m grassroots backfill --from D1 --to D3`: rebuild the days in day order through Airflow's
    backfill of the ingest DAG (`Cluster.backfill_days`), printing each day's runs as it finishes."""
    from grassroots.local import project_env

    first, last = args.from_date, args.to_date
    if last < first:
        print(f"--to {last} is before --from {first}", file=sys.stderr)
        return 2
    try:
        cluster = running_cluster(project_env.airflow_home())
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"backfilling {first} … {last} in day order through {cluster.api_url} (Browse → Backfills)", flush=True)
    failed = 0

    def report(done: dict[str, list[dict]]) -> None:
        nonlocal failed
        for dag_id in DAG_IDS:
            for run in done[dag_id]:
                failed += run["state"] != "success"
                print(f"{run['partition_key']}  {dag_id:22} {run['state']:8} {run['dag_run_id']}", flush=True)

    try:
        cluster.backfill_days(first, last, timeout=args.timeout, on_day=report)
    except (RuntimeError, TimeoutError) as error:  # HTTP 409: a backfill of the DAG is still running, …
        print(error, file=sys.stderr)
        return 1
    return 1 if failed else 0
