"""The auditor's HTML report: one page per run and an index across days, from `audit` tables only."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from grassroots import settings
from grassroots.quality import freshness

log = logging.getLogger(__name__)
TREND_DAYS = 14

FEEDS_SQL = """
select v.target as feed, s.files, s.files_rejected, s.rows_received, s.rows_loaded, s.rows_quarantined,
       count(c.*) filter (where c.success) as passed,
       count(c.*) filter (where not c.success and c.severity = 'fail') as failed_fail,
       count(c.*) filter (where not c.success and c.severity = 'warn') as failed_warn
from audit.latest_validation v
left join audit.load_summary s on s.validation_id = v.validation_id
left join audit.check_result c on c.validation_id = v.validation_id
where v.ds = %(ds)s and v.kind = 'feed'
group by 1, 2, 3, 4, 5, 6
order by 1
"""
REASONS_SQL = """
select q.feed, q.level, q.rule, q.column_name, q.rows, q.files
from audit.latest_validation v
join audit.quarantine_reason q on q.validation_id = v.validation_id
where v.ds = %(ds)s and v.kind = 'feed'
order by q.rows desc, q.feed, q.rule
limit 15
"""
CHECKS_SQL = """
select v.kind, v.target, c.check_id, c.expectation_type, c.severity, c.success, c.observed_value,
       c.element_count, c.unexpected_count, c.unexpected_percent, c.detail
from audit.latest_validation v
join audit.check_result c on c.validation_id = v.validation_id
where v.ds = %(ds)s
order by c.success, c.severity, v.kind, v.target, c.check_id
"""
DBT_SQL = """
select unique_id, resource_type, status, failures, stored_failures
from audit.dbt_result
where ds = %(ds)s and command = 'build'
  and invocation_id = (select invocation_id from audit.dbt_result where ds = %(ds)s and command = 'build'
                       order by recorded_at desc, dbt_result_id desc limit 1)
order by status <> 'pass' and status <> 'success' desc, unique_id
"""
PUBLICATION_SQL = """
select status, failed_fail, failed_warn, reason, decided_at, run_id
from audit.publication where ds = %(ds)s order by decided_at desc, publication_id desc limit 1
"""
TRENDS_SQL = """
with days as (
    select distinct ds from audit.validation_run where ds <= %(ds)s order by ds desc limit %(days)s
),
loads as (
    select v.ds, sum(s.rows_received) as received, sum(s.rows_loaded) as loaded, sum(s.rows_quarantined) as quarantined
    from audit.latest_validation v join audit.load_summary s on s.validation_id = v.validation_id
    group by v.ds
),
checks as (
    select v.ds,
           count(*) filter (where not c.success and c.severity = 'fail') as failed_fail,
           count(*) filter (where not c.success and c.severity = 'warn') as failed_warn,
           count(*) as checks
    from audit.latest_validation v join audit.check_result c on c.validation_id = v.validation_id
    group by v.ds
),
decisions as (
    select distinct on (ds) ds, status from audit.publication order by ds, decided_at desc, publication_id desc
)
select days.ds, loads.received, loads.loaded, loads.quarantined, checks.checks, checks.failed_fail,
       checks.failed_warn, decisions.status
from days
left join loads using (ds)
left join checks using (ds)
left join decisions using (ds)
order by days.ds
"""


def audit_reports_dir() -> Path:
    """Folder of the auditor reports: <reports>/audit."""
    return settings.reports_dir() / "audit"


def collect(dsn: str, ds: dt.date) -> dict:
    """Everything the report shows for ds, read from `audit` only (counts, rules, check results)."""
    params = {"ds": ds, "days": TREND_DAYS}
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        data = {
            name: conn.execute(query, params).fetchall()
            for name, query in (
                ("feeds", FEEDS_SQL), ("reasons", REASONS_SQL), ("checks", CHECKS_SQL),
                ("dbt", DBT_SQL), ("trends", TRENDS_SQL),
            )
        }  # fmt: skip
        data["publication"] = conn.execute(PUBLICATION_SQL, params).fetchone()
        data["freshness"] = freshness.latest(conn, ds)
    for feed in data["feeds"]:
        received = feed["rows_received"] or 0
        feed["quarantine_share"] = 0.0 if not received else (feed["rows_quarantined"] or 0) / received
    checks = data["checks"]
    data["by_severity"] = {
        severity: {
            "passed": sum(c["success"] for c in checks if c["severity"] == severity),
            "failed": sum(not c["success"] for c in checks if c["severity"] == severity),
        }
        for severity in ("fail", "warn")
    }
    data["failed_checks"] = [c for c in checks if not c["success"]]
    dbt = data["dbt"]
    data["dbt_counts"] = {s: sum(r["status"] == s for r in dbt) for s in sorted({r["status"] for r in dbt})}
    data["dbt_failed"] = [r for r in dbt if r["status"] not in ("pass", "success")]
    peak = max([t["quarantined"] or 0 for t in data["trends"]] + [1])
    for trend in data["trends"]:
        trend["bar"] = round(100 * (trend["quarantined"] or 0) / peak)
    return data


def _env():
    from jinja2 import Environment, FileSystemLoader

    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,  # every template is HTML (*.html.j2: select_autoescape(["html"]) missed them)
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = lambda v: "–" if v is None else f"{float(v) * 100:.1f}%"
    env.filters["num"] = lambda v: "–" if v is None else f"{int(v):,}"
    return env


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


def _link(target: Path, start: Path) -> str | None:
    return os.path.relpath(target, start) if target.exists() else None


def render_run(dsn: str, ds: dt.date, run_id: str) -> Path:
    """Write the run's report (and the day's latest report, and the index across days); return the run's page."""
    from grassroots.quality.checks import data_docs_dir

    data = collect(dsn, ds)
    folder = audit_reports_dir() / ds.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    links = {
        "gx_feeds": _link(data_docs_dir(ds, "feeds") / "index.html", folder),
        "gx_marts": _link(data_docs_dir(ds, "marts") / "index.html", folder),
        "dbt_docs": _link(settings.reports_dir() / "dbt-docs" / "index.html", folder),
        "index": "../index.html",
    }
    html = _env().get_template("run.html.j2").render(ds=ds, run_id=run_id, links=links, **data)
    page = folder / f"run-{_slug(run_id)}.html"
    page.write_text(html, encoding="utf-8")
    (folder / "latest.html").write_text(html, encoding="utf-8")
    render_index(dsn)
    log.info("auditor report for %s written to %s", ds, page)
    return page


def render_index(dsn: str) -> Path:
    """The index across days: one row per validated day with its status and a link to its latest report."""
    with psycopg.connect(dsn, row_factory=dict_row) as conn:
        latest = conn.execute("select max(ds) from audit.validation_run").fetchone()["max"]
        trends = conn.execute(TRENDS_SQL, {"ds": latest or dt.date.max, "days": 3650}).fetchall()
    root = audit_reports_dir()
    root.mkdir(parents=True, exist_ok=True)
    days = [dict(t, link=f"{t['ds'].isoformat()}/latest.html") for t in reversed(trends)]
    path = root / "index.html"
    path.write_text(_env().get_template("index.html.j2").render(days=days), encoding="utf-8")
    return path


def build_dbt_docs(dsn: str, ds: dt.date) -> Path | None:
    """dbt docs as one static page under <reports>/dbt-docs/index.html (from the last build's manifest)."""
    import shutil

    from dbt.cli.main import dbtRunner

    from grassroots import db
    from grassroots.dbt_build import dbt_args

    os.environ.update(db.dbt_env(dsn))
    result = dbtRunner().invoke(["docs", *dbt_args("generate", ds, "--static", "--no-compile")])
    page = settings.state_dir() / "dbt-target" / "static_index.html"
    if not result.success or not page.exists():
        log.warning("dbt docs for %s not generated: %s", ds, result.exception)
        return None
    target = settings.reports_dir() / "dbt-docs" / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(page, target)
    return target
