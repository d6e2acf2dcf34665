"""Bodies of the warehouse DAG's quality tasks, so the DAG file stays wiring only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from grassroots.contracts import all_contracts
from grassroots.db import role_dsn
from grassroots.orchestration import partition_date
from grassroots.quality import checks, publish, report
from grassroots.quality.audit import RunInfo
from grassroots.security import AUDITOR, TRANSFORMER


def validate_warehouse(context: Mapping[str, Any]) -> list[dict]:
    """Validate feeds loaded since their last validation (Asset events can outrun validate_<feed>), then marts."""
    dsn, run = role_dsn(TRANSFORMER), RunInfo.from_context(context, partition_date(context))
    summaries = [
        checks.validate_feed(dsn, run, feed) for feed in checks.stale_feeds(dsn, run.ds, list(all_contracts()))
    ]
    return summaries + checks.validate_marts(dsn, run)


def publish_marts(context: Mapping[str, Any]) -> dict:
    """Publish the day's marts, or hold them (recorded in audit.publication), as the transformer."""
    return publish.publish_day(role_dsn(TRANSFORMER), partition_date(context), str(context["run_id"]))


def render_report(context: Mapping[str, Any]) -> str:
    """dbt docs (as the transformer), then the run's auditor report (as the auditor); return its path."""
    ds = partition_date(context)
    report.build_dbt_docs(role_dsn(TRANSFORMER), ds)
    return str(report.render_run(role_dsn(AUDITOR), ds, str(context["run_id"])))


def check_published(context: Mapping[str, Any]) -> None:
    """Raise when this run did not publish the day's marts."""
    publish.circuit_breaker(role_dsn(AUDITOR), partition_date(context), str(context["run_id"]))
