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
from grassroots.quality import data_docs, freshness
from grassroots.quality.delivery import share_text
from grassroots.reports import templating

log = logging.getLogger(__name__)
TREND_DAYS = 14

# records_quarantined / records_checked: the quarantine share's one definition
# (grassroots.quality.delivery.quarantine_share), as the feed's quarantine_share check judged it.
FEEDS_SQL = """
select v.target as feed, s.files, s.files_rejected, s.rows_received, s.rows_loaded,
       s.records_quarantined, s.records_checked,
       count(c.*) filter (where c.success) as passed,
       count(c.*) filter (where not c.success and c.severity = 'fail') as failed_fail,
       count(c.*) filter (where not c.success and c.severity = 'warn') as failed_warn
from audit.latest_validation v
left join audit.load_summary s on s.validation_id = v.validation_id
left join audit.check_result c on c.validation_id = v.validation_id
where v.ds = %(ds)s and v.kind = 'feed'
group by 1, 2, 3, 4, 5, 6, 7
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
select unique_id, resource_type, status, failures, stored_failures, message
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
# The day's own periods (the whole table, the day, its month) held by its latest publication, and
# whether each counts against the day or waits only for a later day's deliveries (own is false).
HOLDS_SQL = """
select h.relation, h.period_grain, h.period_start, h.own, h.reason
from audit.publication_hold h
where h.publication_id = (select publication_id from audit.publication where ds = %(ds)s
                          order by decided_at desc, publication_id desc limit 1)
  and (h.period_start is null or h.period_start = %(ds)s
       or (h.period_grain = 'month' and h.period_start = date_trunc('month', %(ds)s::date)::date))
order by h.own is false, h.relation, h.period_grain
"""
TRENDS_SQL = """
with days as (
    select distinct ds from audit.validation_run where ds <= %(ds)s order by ds desc limit %(days)s
),
loads as (
    select v.ds, sum(s.rows_received) as received, sum(s.rows_loaded) as loaded,
           sum(s.records_quarantined) as quarantined, sum(s.records_checked) as checked
    from audit.latest_validation v join audit.load_summary s on s.validation_id = v.validation_id
    group by v.ds
),
builds as (
    select distinct on (ds) ds, invocation_id from audit.dbt_result where command = 'build'
    order by ds, recorded_at desc, dbt_result_id desc
),
-- The suites' checks and the day's last build's dbt data tests, counted as the day's report counts them.
checks as (
    select ds, sum(failed_fail) as failed_fail, sum(failed_warn) as failed_warn, sum(checks) as checks
    from (
        select v.ds,
               count(*) filter (where not c.success and c.severity = 'fail') as failed_fail,
               count(*) filter (where not c.success and c.severity = 'warn') as failed_warn,
               count(*) as checks
        from audit.latest_validation v join audit.check_result c on c.validation_id = v.validation_id
        group by v.ds
        union all
        select r.ds,
               count(*) filter (where r.status in ('fail', 'error')),
               count(*) filter (where r.status = 'warn'),
               count(*)
        from audit.dbt_result r join builds b using (ds, invocation_id)
        where r.resource_type = 'test' and r.status in ('pass', 'warn', 'fail', 'error')
        group by r.ds
    ) as both_engines
    group by ds
),
decisions as (
    select distinct on (ds) ds, status from audit.publication order by ds, decided_at desc, publication_id desc
)
select days.ds, loads.received, loads.loaded, loads.quarantined, loads.checked, checks.checks, checks.failed_fail,
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
                ("feeds", FEEDS_SQL),
                ("reasons", REASONS_SQL),
                ("checks", CHECKS_SQL),
                ("dbt", DBT_SQL),
                ("holds", HOLDS_SQL),
                ("trends", TRENDS_SQL),
            )
        }
        data["publication"] = conn.execute(PUBLICATION_SQL, params).fetchone()
        data["freshness"] = freshness.latest(conn, ds)
    for feed in data["feeds"]:
        feed["quarantine_share"] = share_text(feed["records_quarantined"], feed["records_checked"])
    dbt = data["dbt"]
    # One list of checks for the day: the suites' (GX and load checks) and dbt's data tests, so the
    # headline, the counts by severity and the failed-checks table count the same things.
    checks = data["checks"] + [
        _dbt_check(r) for r in dbt if r["resource_type"] == "test" and r["status"] in DBT_SEVERITY
    ]
    for check in checks:
        check["unexpected_share"] = _unexpected_share(check)
    data["by_severity"] = {
        severity: {
            "passed": sum(c["success"] for c in checks if c["severity"] == severity),
            "failed": sum(not c["success"] for c in checks if c["severity"] == severity),
            "failed_dbt": sum(not c["success"] for c in checks if c["severity"] == severity and c["kind"] == "dbt"),
        }
        for severity in ("fail", "warn")
    }
    data["failed_checks"] = sorted(
        (c for c in checks if not c["success"]), key=lambda c: (c["severity"], c["kind"], c["target"], c["check_id"])
    )
    data["dbt_counts"] = {s: sum(r["status"] == s for r in dbt) for s in sorted({r["status"] for r in dbt})}
    data["dbt_failed"] = [r for r in dbt if r["status"] not in ("pass", "success")]
    _shape_trends(data["trends"])
    return data


def _shape_trends(trends: list[dict]) -> list[dict]:
    """Each day's bar (quarantined records against the busiest day) and quarantine share."""
    peak = max([t["quarantined"] or 0 for t in trends] + [1])
    for trend in trends:
        trend["bar"] = round(100 * (trend["quarantined"] or 0) / peak)
        trend["quarantine_share"] = share_text(trend["quarantined"], trend["checked"])
    return trends


# dbt data test status → (severity, passed): `warn` is a failed warn-severity test, `fail` and
# `error` (the test could not run) failed ones of fail severity.
DBT_SEVERITY = {"pass": ("fail", True), "warn": ("warn", False), "fail": ("fail", False), "error": ("fail", False)}


def _dbt_check(row: dict) -> dict:
    """A dbt data test's result in the shape of a suite check's (kind `dbt`)."""
    severity, success = DBT_SEVERITY[row["status"]]
    name = row["unique_id"].split(".")[2] if row["unique_id"].count(".") >= 2 else row["unique_id"]
    return {
        "kind": "dbt",
        "target": row["unique_id"],
        "check_id": name,
        "expectation_type": "dbt test",
        "severity": severity,
        "success": success,
        "observed_value": row["message"],
        "element_count": None,
        "unexpected_count": row["failures"],
        "unexpected_percent": None,
        "detail": f"failing rows kept in {row['stored_failures']}" if row["stored_failures"] else None,
    }


def _unexpected_share(check: dict) -> str:
    """The share of unexpected records, from the two counts when both are known (the same text as
    the feeds table's quarantine share for the quarantine check), else from the recorded percent."""
    if check["unexpected_count"] is not None and check["element_count"]:
        return share_text(check["unexpected_count"], check["element_count"])
    percent = check["unexpected_percent"]
    return "–" if percent is None else share_text(float(percent), 100)


def _env():
    env = templating.environment(Path(__file__).parent / "templates")
    env.filters["pct"] = lambda v: "–" if v is None else f"{float(v) * 100:.1f}%"
    env.filters["num"] = lambda v: "–" if v is None else f"{int(v):,}"
    return env


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text)[:120]


def _link(target: Path, start: Path) -> str | None:
    return os.path.relpath(target, start) if target.exists() else None


def render_run(dsn: str, ds: dt.date, run_id: str) -> Path:
    """Write the run's report (and the day's latest report, and the index across days); return the run's page."""
    data = collect(dsn, ds)
    folder = audit_reports_dir() / ds.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    data_docs.build_site(ds)
    data_docs.build_pending_sites()  # days a late feed was validated for since their report
    links = {
        "gx": _link(data_docs.site_dir(ds) / "index.html", folder),
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
    days = [dict(t, link=f"{t['ds'].isoformat()}/latest.html") for t in reversed(_shape_trends(trends))]
    path = root / "index.html"
    path.write_text(_env().get_template("index.html.j2").render(days=days), encoding="utf-8")
    return path


def build_dbt_docs(dsn: str, ds: dt.date) -> Path | None:
    """dbt docs as one static page under <reports>/dbt-docs/index.html (from the last build's manifest)."""
    import shutil

    from grassroots.warehouse.dbt_runner import invoke

    result = invoke("docs generate", ds, "--static", "--no-compile", dsn=dsn)
    page = settings.state_dir() / "dbt-target" / "static_index.html"
    if not result.success or not page.exists():
        log.warning("dbt docs for %s not generated: %s", ds, result.exception)
        return None
    target = settings.reports_dir() / "dbt-docs" / "index.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(page, target)
    return target
