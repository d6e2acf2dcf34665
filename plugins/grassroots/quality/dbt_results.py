"""Append every dbt invocation's run_results.json to `audit.dbt_result` (history, never overwritten)."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)


def parse_run_results(path: Path, command: str) -> list[tuple]:
    """Rows for audit.dbt_result (without ds) from a run_results.json: counts and messages, no data."""
    data = json.loads(path.read_text(encoding="utf-8"))
    meta = data.get("metadata", {})
    invocation, generated = meta.get("invocation_id", ""), meta.get("generated_at")
    rows = []
    for node in data.get("results", []):
        unique_id = str(node.get("unique_id", ""))
        resource_type = unique_id.split(".", 1)[0]
        stored = node.get("relation_name") if resource_type == "test" else None
        message = node.get("message")
        rows.append(
            (
                invocation,
                command,
                unique_id,
                resource_type,
                str(node.get("status")),
                node.get("failures"),
                round(float(node.get("execution_time") or 0), 3),
                str(message)[:1000] if message else None,
                stored.replace('"', "") if stored else None,
                generated,
            )
        )
    return rows


def record_run_results(dsn: str, ds: dt.date, command: str, path: Path, since: float) -> int:
    """Append the results of the invocation that wrote `path` after `since` (epoch seconds); return rows written."""
    if not path.exists() or path.stat().st_mtime < since:
        log.warning("dbt %s for %s left no new run_results.json; nothing recorded in audit", command, ds)
        return 0
    rows = parse_run_results(path, command)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into audit.dbt_result (invocation_id, ds, command, unique_id, resource_type, status, failures, "
            "execution_seconds, message, stored_failures, generated_at) "
            "values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(r[0], ds, *r[1:]) for r in rows],
        )
    return len(rows)


IGNORED_SOURCES = ("meta", "audit")  # the pipeline's own tables, not department feeds


def lineage(manifest: dict, schema: str, ran: set[str] | None = None) -> list[tuple[str, str, list[str], list[str]]]:
    """(relation, node, feeds, upstream) for every model built into `schema` (of those in `ran`, the
    invocation's nodes, when given: a model the build did not select is not the build's).

    feeds: the department feeds (dbt source names) the model reads, directly or through any
    ancestor; upstream: every ancestor model and seed and every test on them or on the model
    itself, so a failed or skipped one can hold what depends on it.
    """
    parents, children = manifest["parent_map"], manifest["child_map"]
    out = []
    for node_id, node in manifest["nodes"].items():
        if node.get("resource_type") != "model" or node.get("schema") != schema:
            continue
        if ran is not None and node_id not in ran:  # e.g. the risk KPIs, which the scoring DAG builds
            continue
        ancestors: set[str] = set()
        pending = list(parents.get(node_id, []))
        while pending:
            parent = pending.pop()
            if parent not in ancestors:
                ancestors.add(parent)
                pending.extend(parents.get(parent, []))
        feeds = sorted(
            {
                manifest["sources"][a]["source_name"]
                for a in ancestors
                if a.startswith("source.") and manifest["sources"][a]["source_name"] not in IGNORED_SOURCES
            }
        )
        built = {a for a in ancestors if a.startswith(("model.", "seed."))} | {node_id}
        tests = {child for b in built for child in children.get(b, []) if child.startswith("test.")}
        out.append((node.get("alias") or node["name"], node_id, feeds, sorted((built - {node_id}) | tests)))
    return sorted(out)


def record_lineage(dsn: str, ds: dt.date, manifest_path: Path, run_results_path: Path, schema: str) -> int:
    """Append the lineage of the models the last invocation built into `schema`, under its id; return rows."""
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    invocation = manifest.get("metadata", {}).get("invocation_id", "")
    ran = {r["unique_id"] for r in json.loads(run_results_path.read_text(encoding="utf-8")).get("results", [])}
    rows = lineage(manifest, schema, ran)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.executemany(
            "insert into audit.build_lineage (invocation_id, ds, relation, node, feeds, upstream) "
            "values (%s, %s, %s, %s, %s, %s) on conflict do nothing",
            [(invocation, ds, *row) for row in rows],
        )
    return len(rows)
