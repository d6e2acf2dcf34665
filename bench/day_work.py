"""Rows each model's query reads per day: whether a model's database work follows the day or the history.

    .venv/bin/python bench/day_work.py --residents 2000 --days 5 [--stats-out tables.json]

Generates a small city's days, runs each through the ingest and warehouse DAGs (in this process,
`local.pipeline.run_day`) into a database of its own on the warehouse server (WAREHOUSE_DSN, else
the embedded one), and after each day's build prints, per model, the rows its query read
(tests/node_work.py: EXPLAIN ANALYZE of the SQL the build compiled, table scans' rows returned plus
filtered out). A model that reads only what the day changed stays flat from day 2 on; one that
re-reads every past day grows with the day number. --stats-out writes every table's rows and
checksum after the last day (local.summary.table_stats), to compare two builds of the same days.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAGS = ROOT / "dags"
FIRST_DAY = dt.date(2026, 11, 1)
DAILY = ("grassroots_ingest", "grassroots_warehouse")
MODELS = (
    "int_registry_daily",
    "int_residents_daily",
    "int_participants_matched",
    "int_complaint_callers_matched",
    "int_identity_links_unioned",
    "fct_resident_features",
    "dim_residents",
    "dim_resident_history",
    "fct_community_population",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=2000)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--stats-out", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("GRASSROOTS_STATE_DIR", tempfile.mkdtemp(prefix="day-work-"))
    os.environ.setdefault("GRASSROOTS_HMAC_SECRET", "bench-secret-not-for-production")
    os.environ.setdefault("GRASSROOTS_BI_PASSWORD", "bench-password-not-for-production")
    from grassroots.local import project_env

    project_env.configure()
    from grassroots.generator import feed_server, generate
    from grassroots.local import pipeline, summary
    from grassroots.warehouse import db
    from tests.node_work import rows_read

    server_dsn = db.warehouse_dsn()
    name = f"grassroots_day_work_{os.getpid()}"
    db.ensure_database(server_dsn, name)
    dsn = db.with_database(server_dsn, name)
    os.environ["WAREHOUSE_DSN"] = dsn
    landing = Path(tempfile.mkdtemp(prefix="day-work-landing-"))
    generate(landing, FIRST_DAY, args.days, args.residents, args.seed)
    os.environ["GRASSROOTS_LANDING_DIR"] = str(landing)
    pipeline.migrate_metadata_db()
    server, os.environ["GRASSROOTS_API_URL"] = feed_server.serve(landing)
    try:
        print(f"{'rows read':<32}" + "".join(f"{f'day {i + 1}':>10}" for i in range(args.days)), flush=True)
        figures: dict[str, list[int]] = {model: [] for model in MODELS}
        for offset in range(args.days):
            day = FIRST_DAY + dt.timedelta(days=offset)
            states = pipeline.run_day(day, DAGS, only=DAILY)
            if any(state != "success" for _, state in states):
                print(f"{day}: {states}", flush=True)
            for model in MODELS:
                figures[model].append(rows_read(dsn, model))
        for model, values in figures.items():
            print(f"{model:<32}" + "".join(f"{value:>10,}" for value in values), flush=True)
        if args.stats_out:
            args.stats_out.write_text(json.dumps(summary.table_stats(dsn), indent=1, sort_keys=True))
    finally:
        server.shutdown()
        db.drop_database(server_dsn, name)


if __name__ == "__main__":
    main()
