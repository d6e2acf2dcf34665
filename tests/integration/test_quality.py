"""Data quality for auditors, three days through the real DAGs on real PostgreSQL.

Defects are planted in a copy of generated feeds and recorded in `_truth/<ds>.planted.json`:
day 1 clean; day 2 ID numbers with a wrong check digit (quarantined) and attention levels
out of range (a `warn` check); day 3 two repeated incident rows (quarantined as duplicate_row)
and the incidents' resolved_at column dropped (a `fail` check: drift). The audit tables and the
auditor report must show each with the planted counts, day 3's periods of the KPI tables that
read grid incidents must be held while day 2's stay visible, and the report must render in
headless Chromium.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from grassroots.generator import feed_server, generate, scenarios
from grassroots.loading.contracts import get_contract
from grassroots.local import pipeline
from grassroots.warehouse import db
from tests.chromium import chromium
from tests.conftest import DEMO_DAY, TEST_RESIDENTS, TEST_SEED

DAGS = Path(__file__).resolve().parents[2] / "dags"
DAY1, DAY2, DAY3 = DEMO_DAY - dt.timedelta(days=2), DEMO_DAY - dt.timedelta(days=1), DEMO_DAY


def _rewrite_csv(landing: Path, ds: dt.date, feed: str, change) -> dict:
    """Apply `change(header_columns, rows) -> truth` to the day's CSV of a feed, keeping its encoding."""
    contract = get_contract(feed)
    path = landing / ds.isoformat() / feed / f"{feed}_{ds:%Y%m%d}.csv"  # the day's main delivery
    encoding = contract.encoding
    rows = list(csv.reader(io.StringIO(path.read_bytes().decode(encoding), newline="")))
    columns = [contract.header_map()[h.strip()] for h in rows[0]]
    body = rows[1:]
    truth = change(columns, body)
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows([rows[0], *body])
    original = path.read_bytes()
    for copy in path.parent.iterdir():  # the generator's re-sent copies must stay identical (duplicates)
        if copy != path and copy.read_bytes() == original:
            copy.write_bytes(out.getvalue().encode(encoding))
    path.write_bytes(out.getvalue().encode(encoding))
    return truth


def _bad_check_digits(n: int):
    def change(columns: list[str], rows: list[list[str]]) -> dict:
        at = columns.index("id_number")
        for row in rows[:n]:
            good = row[at]
            row[at] = good[:17] + next(c for c in "0123456789" if c != good[17].upper())
        return {"rule": "id_check_digit", "column": "id_number", "rows": n}

    return change


def _attention_out_of_range(start: int, m: int):
    def change(columns: list[str], rows: list[list[str]]) -> dict:
        at = columns.index("attention_level")
        for row in rows[start : start + m]:
            row[at] = "9"
        return {"check": "range.attention_level", "severity": "warn", "unexpected": m}

    return change


def _duplicate_incidents(k: int):
    def change(columns: list[str], rows: list[list[str]]) -> dict:
        rows.extend([list(r) for r in rows[:k]])
        return {"rule": "duplicate_row", "column": None, "rows": k}

    return change


def plant(landing: Path) -> dict[dt.date, dict]:
    """Plant the defects and write their truth next to the generator's."""
    registry = "population_registry"
    planted = {
        DAY1: {},
        DAY2: {
            "quarantine": {registry: _rewrite_csv(landing, DAY2, registry, _bad_check_digits(5))},
            "checks": {registry: _rewrite_csv(landing, DAY2, registry, _attention_out_of_range(10, 3))},
        },
        DAY3: {
            "quarantine": {"grid_incidents": _rewrite_csv(landing, DAY3, "grid_incidents", _duplicate_incidents(2))}
        },
    }
    scenarios.drop_column(landing, "grid_incidents", DAY3, "resolved_at")
    main = scenarios.main_file(landing, "grid_incidents", DAY3)  # the generator's byte-identical re-send stays one
    main.with_name(f"{main.stem}_resend{main.suffix}").write_bytes(main.read_bytes())
    planted[DAY3]["checks"] = {"grid_incidents": {"check": "drift.columns", "severity": "fail", "unexpected": None}}
    for ds, truth in planted.items():
        (landing / "_truth" / f"{ds}.planted.json").write_text(json.dumps(truth), encoding="utf-8")
    return planted


@pytest.fixture(scope="module")
def three_days(server_dsn: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory):
    """Three consecutive days with planted defects, run through ingest → warehouse (→ scoring)."""
    landing = tmp_path_factory.mktemp("dq-landing")
    generate(landing, DAY1, 3, TEST_RESIDENTS, TEST_SEED)
    plant(landing)
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    dsn = db.with_database(server_dsn, name)
    server, url = feed_server.serve(landing)
    reports = tmp_path_factory.mktemp("dq-reports")
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("WAREHOUSE_DSN", dsn)
            mp.setenv("GRASSROOTS_LANDING_DIR", str(landing))
            mp.setenv("GRASSROOTS_API_URL", url)
            mp.setenv("GRASSROOTS_REPORTS_DIR", str(reports))
            states = {ds: pipeline.run_day(ds, DAGS) for ds in (DAY1, DAY2, DAY3)}
            yield SimpleNamespace(dsn=dsn, landing=landing, reports=reports, states=states)
    finally:
        server.shutdown()
        db.drop_database(server_dsn, name)


def _truth(landing: Path, ds: dt.date) -> dict:
    return json.loads((landing / "_truth" / f"{ds}.planted.json").read_text(encoding="utf-8"))


def _latest_check(conn: psycopg.Connection, ds: dt.date, target: str, check_id: str) -> tuple:
    return conn.execute(
        "select c.severity, c.success, c.element_count, c.unexpected_count, c.observed_value "
        "from audit.latest_validation v join audit.check_result c using (validation_id) "
        "where v.ds = %s and v.target = %s and c.check_id = %s",
        (ds, target, check_id),
    ).fetchone()


def _expected_quarantine(landing: Path, ds: dt.date) -> Counter:
    """(feed, level, rule) → rows (row level) or files (file level): the generator's truth plus ours."""
    generated = json.loads((landing / "_truth" / f"{ds}.json").read_text(encoding="utf-8")).get("defects", [])
    expected: Counter = Counter()
    for defect in generated:
        if defect.get("expected") == "quarantined" and defect.get("level") in ("row", "file"):
            expected[(defect["feed"], defect["level"], defect["rule"])] += 1
    for feed, planted in _truth(landing, ds).get("quarantine", {}).items():
        expected[(feed, "row", planted["rule"])] += planted["rows"]
    return expected


def test_planted_defects_are_in_audit_with_the_truth_counts(three_days) -> None:
    day2, day3 = _truth(three_days.landing, DAY2), _truth(three_days.landing, DAY3)
    ours = day2["quarantine"]["population_registry"]
    with psycopg.connect(three_days.dsn) as conn:
        for ds in (DAY1, DAY2, DAY3):
            recorded = {
                (feed, level, rule): rows if level == "row" else files
                for feed, level, rule, rows, files in conn.execute(
                    "select q.feed, q.level, q.rule, sum(q.rows), sum(q.files) from audit.latest_validation v "
                    "join audit.quarantine_reason q using (validation_id) where v.ds = %s group by 1, 2, 3",
                    (ds,),
                )
            }
            assert recorded == dict(_expected_quarantine(three_days.landing, ds)), ds
        id_rows = conn.execute(
            "select count(*) from quarantine.current_rows where feed = 'population_registry' and ds = %s "
            "and column_name = 'id_number'",
            (DAY2,),
        ).fetchone()[0]
        received = conn.execute(
            "select s.rows_received from audit.latest_validation v join audit.load_summary s using (validation_id) "
            "where v.ds = %s and v.target = 'population_registry'",
            (DAY2,),
        ).fetchone()[0]
        loaded = conn.execute("select count(*) from staging.population_registry where _ds = %s", (DAY2,)).fetchone()[0]
        id_validity = _latest_check(conn, DAY2, "population_registry", "id_validity.id_number")
        warned = day2["checks"]["population_registry"]
        warn = _latest_check(conn, DAY2, "population_registry", warned["check"])
        failed = day3["checks"]["grid_incidents"]
        fail = _latest_check(conn, DAY3, "grid_incidents", failed["check"])
    assert id_rows >= ours["rows"] and id_validity[0] == "warn" and id_validity[3] == id_rows
    assert float(id_validity[4]) == pytest.approx(1 - id_rows / received, abs=1e-4)
    assert warn[:2] == (warned["severity"], False) and warn[3] == warned["unexpected"] and warn[2] == loaded
    assert fail[:2] == (failed["severity"], False) and fail[3] == failed["unexpected"]


def test_a_fail_holds_that_days_periods_of_what_it_feeds_while_the_rest_publishes(three_days) -> None:
    ok = [("grassroots_ingest", "success"), ("grassroots_warehouse", "success"), ("grassroots_scoring", "success")]
    assert three_days.states[DAY1] == ok
    assert three_days.states[DAY2] == ok, "a warn-severity defect must publish"
    # day 3: ingest red (a feed unusable), the warehouse red (a period of the day held), scoring still runs
    assert three_days.states[DAY3][:2] == [("grassroots_ingest", "failed"), ("grassroots_warehouse", "failed")]
    with psycopg.connect(three_days.dsn) as conn:
        decisions = conn.execute(
            "select ds, status, failed_fail, failed_warn from audit.publication order by ds"
        ).fetchall()
        published = [r[0] for r in conn.execute("select ds from audit.published_days order by ds")]
        incidents_day = conn.execute("select max(kpi_date) from marts.kpi_proactive_discovery_daily").fetchone()[0]
        funds_day = conn.execute("select max(kpi_date) from marts.kpi_community_resources_daily").fetchone()[0]
        held = conn.execute(
            "select relation, reason from marts.kpi_period_status where period_start = %s and status = 'held'", (DAY3,)
        ).fetchall()
    assert [(d, s) for d, s, _, _ in decisions] == [(DAY1, "published"), (DAY2, "published"), (DAY3, "partial")]
    assert decisions[1][3] >= 1 and decisions[1][2] == 0, "day 2 published with its warn failures counted"
    assert decisions[2][2] >= 1
    assert published == [DAY1, DAY2]
    assert incidents_day == DAY2, "BI must still see the last good incident figures, not the held day"
    assert funds_day == DAY3, "what grid incidents do not feed publishes"
    assert held and all("grid_incidents" in reason and "resolved_at" in reason for _, reason in held)


def test_results_of_three_consecutive_days_are_all_kept(three_days) -> None:
    with psycopg.connect(three_days.dsn) as conn:
        feeds = conn.execute(
            "select ds, count(distinct target) from audit.validation_run where kind = 'feed' group by ds order by ds"
        ).fetchall()
        marts = conn.execute(
            "select ds from audit.validation_run where kind = 'model' group by ds order by ds"
        ).fetchall()
        dbt = conn.execute(
            "select ds, count(distinct invocation_id), count(*) filter (where resource_type = 'test') "
            "from audit.dbt_result where command = 'build' group by ds order by ds"
        ).fetchall()
        feed_count = conn.execute(
            "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname = 'staging' and c.relkind = 'p'"
        ).fetchone()[0]
    assert feeds == [(DAY1, feed_count), (DAY2, feed_count), (DAY3, feed_count)]
    assert [m[0] for m in marts][:2] == [DAY1, DAY2]  # day 3's may stop at dbt's own tests (then held)
    assert [d[0] for d in dbt] == [DAY1, DAY2, DAY3] and all(d[1] == 1 and d[2] > 0 for d in dbt)


def test_the_auditor_role_reads_audit_and_no_personal_data(three_days) -> None:
    with psycopg.connect(three_days.dsn, autocommit=True) as conn:
        conn.execute("set role auditor")
        assert conn.execute("select count(*) from audit.check_result").fetchone()[0] > 0
        assert conn.execute("select count(*) from audit.quarantine_reason").fetchone()[0] > 0
        for table in ("staging.population_registry", "quarantine.rows", "warehouse.dim_residents"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {table} limit 1")  # noqa: S608 - fixed names
        raw = conn.execute(
            "select count(*) from information_schema.columns where table_schema = 'audit' "
            "and column_name in ('id_number', 'name', 'phone', 'address', 'raw_line')"
        ).fetchone()[0]
    assert raw == 0


def test_the_report_renders_in_chromium_with_the_days_feed_table(three_days, tmp_path: Path) -> None:
    from html.parser import HTMLParser

    from PIL import Image

    page = three_days.reports / "audit" / DAY3.isoformat() / "latest.html"
    dom = chromium("--dump-dom", page.as_uri())

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.table, self.rows, self.text = None, {}, ""

        def handle_starttag(self, tag, attrs):
            self.table = dict(attrs).get("id", self.table) if tag == "table" else self.table
            if tag == "tr":
                self.row = []
            self.text = ""

        def handle_data(self, data):
            self.text += data

        def handle_endtag(self, tag):
            if tag in ("td", "th"):
                self.row.append(self.text.strip())
            elif tag == "tr":
                self.rows.setdefault(self.table, []).append(self.row)

    cells = Cells()
    cells.feed(dom)
    feeds = {row[0]: row for row in cells.rows["feeds"][1:]}
    with psycopg.connect(three_days.dsn) as conn:
        loaded = {
            feed: conn.execute(f"select count(*) from staging.{feed} where _ds = %s", (DAY3,)).fetchone()[0]  # noqa: S608
            for feed in feeds
        }
    assert set(feeds) == set(loaded) and "grid_incidents" in feeds
    for feed, row in feeds.items():
        assert row[4].replace(",", "") == str(loaded[feed]), feed  # "Rows loaded" column
    assert int(feeds["grid_incidents"][8]) >= 1  # failed (fail) checks
    assert "drift.columns" in dom and "resolved_at" in dom
    assert [r[0] for r in cells.rows["trends"][1:]] == [DAY1.isoformat(), DAY2.isoformat(), DAY3.isoformat()]

    shot = tmp_path / "report.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri())
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 1600)
    colours = image.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50, "the screenshot is blank"
    assert (three_days.reports / "audit" / "index.html").exists()


HOSTILE = ("<script>alert(1)</script>", '<img src=x onerror="alert(2)">')


def test_the_report_escapes_markup_in_every_recorded_text(three_days, tmp_path: Path, monkeypatch) -> None:
    """Names a department controls (a JSON key quarantined as a column, a check's detail, a dbt node, a
    hold reason) reach the auditor's page as text, never as live markup. Runs last: it writes into audit."""
    from grassroots.quality import report

    script, image = HOSTILE
    with psycopg.connect(three_days.dsn, autocommit=True) as conn:
        validation = conn.execute(
            "select validation_id from audit.latest_validation where ds = %s and target = 'grid_incidents'", (DAY3,)
        ).fetchone()[0]
        changed = conn.execute(
            "update audit.check_result set detail = %s, observed_value = %s where validation_id = %s and not success",
            (script, image, validation),
        ).rowcount
        invocation = conn.execute(
            "select invocation_id from audit.dbt_result where ds = %s and command = 'build' "
            "order by recorded_at desc limit 1",
            (DAY3,),
        ).fetchone()[0]
        conn.execute(
            "insert into audit.dbt_result (invocation_id, ds, command, unique_id, resource_type, status, failures, "
            "message, generated_at) values (%s, %s, 'build', %s, 'test', 'fail', 1, %s, now())",
            (invocation, DAY3, image, script),
        )
        conn.execute(
            "update audit.publication set reason = %s where publication_id = (select max(publication_id) "
            "from audit.publication where ds = %s)",
            (script + image, DAY3),
        )
    assert changed >= 1
    monkeypatch.setenv("GRASSROOTS_REPORTS_DIR", str(tmp_path))
    page = report.render_run(three_days.dsn, DAY3, f"hostile {image}").read_text(encoding="utf-8")
    for markup in HOSTILE:
        assert markup not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=" in page
    assert "<script" not in page.lower() and "onerror=" not in page.replace("&lt;img src=x onerror=", "")
