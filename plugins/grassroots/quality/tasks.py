"""Bodies of the warehouse DAG's quality tasks, so the DAG file stays wiring only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grassroots.contracts import all_contracts
from grassroots.db import warehouse_dsn
from grassroots.orchestration import partition_date
from grassroots.quality import checks, publish, report
from grassroots.quality.audit import RunInfo


def validate_warehouse(context: Mapping[str, Any]) -> list[dict]:
    """Validate feeds loaded since their last validation (Asset events can outrun validate_<feed>), then marts."""
    dsn, run = warehouse_dsn(), RunInfo.from_context(context, partition_date(context))
    summaries = [
        checks.validate_feed(dsn, run, feed) for feed in checks.stale_feeds(dsn, run.ds, list(all_contracts()))
    ]
    return summaries + checks.validate_marts(dsn, run)


def publish_marts(context: Mapping[str, Any]) -> dict:
    """Publish the day's marts, or hold them (recorded in audit.publication)."""
    return publish.publish_day(warehouse_dsn(), partition_date(context), str(context["run_id"]))


def render_report(context: Mapping[str, Any]) -> str:
    """dbt docs, then the run's auditor report; return the report's path."""
    dsn, ds = warehouse_dsn(), partition_date(context)
    report.build_dbt_docs(dsn, ds)
    return str(report.render_run(dsn, ds, str(context["run_id"])))


def check_published(context: Mapping[str, Any]) -> None:
    """Raise when this run did not publish the day's marts."""
    publish.circuit_breaker(warehouse_dsn(), partition_date(context), str(context["run_id"]))
