"""Rows a dbt model's query reads, from PostgreSQL's own plan: a deterministic measure of its database work.

`rows_read(dsn, model)` runs the model's compiled SQL (as the last dbt build compiled it: for an
incremental model, its incremental branch) under EXPLAIN (ANALYZE, FORMAT JSON) and adds up what
every table scan read: the rows it returned plus those its filter removed, times its loops. Unlike
seconds, the figure does not depend on the machine or its load, so a test can compare day 2 with
day N (bench/day_work.py prints it per day).
"""

from __future__ import annotations

import json

import psycopg

from grassroots.warehouse import dbt_runner

SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan", "Tid Scan"}


def compiled_sql(model: str) -> str:
    """The model's SQL as the last dbt invocation compiled it.

    The path comes from the manifest (`target/compiled/<project>/<original_file_path>`), not from a
    search by file name: a unit test or an analysis compiled earlier in the session may leave another
    file of the same name under the target folder.
    """
    manifest = json.loads(dbt_runner.manifest_path().read_text(encoding="utf-8"))
    node = manifest["nodes"][f"model.grassroots.{model}"]
    compiled = dbt_runner.manifest_path().parent / "compiled" / "grassroots" / node["original_file_path"]
    return compiled.read_text(encoding="utf-8")


def _scanned(plan: dict) -> int:
    own = 0
    if plan.get("Node Type") in SCANS and plan.get("Actual Loops", 0):
        per_loop = plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)
        per_loop += plan.get("Rows Removed by Index Recheck", 0)
        own = round(per_loop * plan["Actual Loops"])
    return own + sum(_scanned(child) for child in plan.get("Plans", []))


def rows_read(dsn: str, model: str) -> int:
    """Rows the table scans of the model's compiled query read (EXPLAIN ANALYZE), rolled back."""
    with psycopg.connect(dsn) as conn:
        (plan,) = conn.execute("explain (analyze, format json) " + compiled_sql(model)).fetchone()[0]
        conn.rollback()
    return _scanned(plan["Plan"]) + sum(_scanned(init) for init in plan.get("InitPlan", []))
