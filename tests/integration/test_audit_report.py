"""What an auditor opens: the day's GX Data Docs (every feed and mart, offline) and a report whose numbers agree.

The demo day (tests/conftest.py `demo_run`) is read as built; the report's counting is also checked on a
small `audit` history written here, with dbt warnings and a failed quarantine check, which the demo day
does not have.
"""

from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from pathlib import Path

import psycopg
import pytest

from grassroots import settings
from grassroots.loading.contracts import all_contracts
from grassroots.quality import report
from grassroots.quality.audit import create_audit_tables
from grassroots.quality.delivery import share_text
from grassroots.quality.suites import mart_suites
from tests.chromium import chromium
from tests.conftest import DEMO_DAY, DemoRun

# Tags whose URL attribute the browser fetches on its own (an <a href> is only followed when clicked).
FETCHED = {
    "link": "href",
    "script": "src",
    "img": "src",
    "iframe": "src",
    "source": "src",
    "embed": "src",
    "object": "data",
    "video": "src",
    "audio": "src",
    "image": "href",
    "use": "href",
}
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


class Page(HTMLParser):
    """Tables (by id, else by order) as rows of cell texts, the links, and every URL the page would fetch."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.links: list[str] = []
        self.fetched: list[str] = []
        self.ids: dict[str, str] = {}
        self._table: list[str] = []
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self._id: list[tuple[str | None, list[str]]] = []  # open b/span/p elements, with their id
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in FETCHED and a.get(FETCHED[tag]):
            self.fetched.append(a[FETCHED[tag]] or "")
        if tag in ("link", "a"):
            self.links.append(a.get("href") or "")
        if "style" in a and "url(" in (a["style"] or ""):
            self.fetched += re.findall(r"url\(\s*['\"]?([^'\")]+)", a["style"] or "")
        if tag == "table":
            name = a.get("id") or f"table-{len(self.tables)}"
            self._table.append(name)
            self.tables[name] = []
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        if tag in ("b", "span", "p"):
            self._id.append((a.get("id"), []))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self._table:
            self._table.pop()
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table[-1]].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag in ("b", "span", "p") and self._id:
            name, text = self._id.pop()
            if name:
                self.ids[name] = " ".join("".join(text).split())

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, text in self._id:
            text.append(data)
        self.text.append(data)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def parse(path: Path) -> Page:
    page = Page()
    text = path.read_text(encoding="utf-8")
    page.feed(text)
    # Stylesheets inside <style> may fetch too (@import, url()).
    for css in re.findall(r"<style[^>]*>(.*?)</style>", text, re.DOTALL | re.IGNORECASE):
        page.fetched += re.findall(r"url\(\s*['\"]?([^'\")]+)", css) + re.findall(r"@import\s+['\"]([^'\"]+)", css)
    return page


@pytest.fixture(scope="module")
def site(demo_run: DemoRun) -> Path:
    return demo_run.reports / "gx-data-docs" / DEMO_DAY.isoformat()


@pytest.fixture(scope="module")
def published_marts(demo_run: DemoRun) -> set[str]:
    with psycopg.connect(demo_run.dsn) as conn:
        rows = conn.execute(
            "select table_name from information_schema.tables where table_schema = 'marts' "
            "and table_type = 'BASE TABLE' and table_name <> 'kpi_period_status'"  # publication's own, not dbt's
        ).fetchall()
    return {r[0] for r in rows}


def test_the_days_data_docs_hold_every_feeds_and_marts_validation(site: Path, published_marts: set[str]) -> None:
    index = parse(site / "index.html")
    validations = [link for link in index.links if link.startswith("validations/")]
    feeds = {link.split("/")[2] for link in validations if link.startswith("validations/feed/")}
    marts = {link.split("/")[2] for link in validations if link.startswith("validations/model/")}
    assert len(all_contracts()) == 12 and feeds == set(all_contracts())
    # The KPIs that use risk tiers are gated by the tests of the scoring DAG's own dbt build
    # (scoring.tier_kpis, tests/integration/test_tier_kpi_publication.py), not by a GX mart suite.
    risk_kpis = {path.stem for path in (settings.dbt_project_dir() / "models" / "marts" / "risk").glob("kpi_*.sql")}
    assert risk_kpis and risk_kpis <= published_marts
    warehouse_marts = published_marts - risk_kpis
    assert len(warehouse_marts) >= 15 and warehouse_marts <= set(mart_suites()), "every published mart has a suite"
    assert marts == set(mart_suites())
    results = index.tables[next(name for name in index.tables if "validation-results" in name or "table" in name)]
    assert len([row for row in results if row and not row[0].startswith("Status")]) >= 12 + len(marts)
    for link in validations:
        page = parse(site / link.split("#")[0])
        rows = [row for rows in page.tables.values() for row in rows if len(row) >= 3]
        assert len(rows) >= 3, f"{link}: its results table has rows in the HTML"
        assert any(row[0] == "Status" for row in rows), link


def test_no_data_docs_page_loads_anything_from_the_network(site: Path, demo_run: DemoRun) -> None:
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 2 * (12 + 15)  # a validation and a suite page per feed and mart, and the index
    for path in pages:
        page = parse(path)
        external = [url for url in page.fetched if EXTERNAL.match(url)]
        assert external == [], f"{path.relative_to(site)} loads {external}"
        for url in page.fetched:  # what it loads locally is in the site
            if not url.startswith("data:"):
                assert (path.parent / url.split("?")[0].split("#")[0]).resolve().is_file(), (path, url)
    kept = "".join(p.read_text(encoding="utf-8") for p in site.rglob("*.json"))
    assert kept and demo_run.dsn not in kept and "password" not in kept.lower()


def test_data_docs_show_their_styled_results_offline_inchromium(site: Path, tmp_path: Path) -> None:
    from PIL import Image

    dom = chromium("--dump-dom", (site / "index.html").as_uri())
    index = Page()
    index.feed(dom)
    rows = [row for rows in index.tables.values() for row in rows if any("feed." in cell for cell in row)]
    assert {feed for feed in all_contracts() if any(f"feed.{feed}" in cell for row in rows for cell in row)} == set(
        all_contracts()
    )
    page = next((site / "validations" / "feed" / "grid_incidents").rglob("*.html"))
    shown = Page()
    shown.feed(chromium("--dump-dom", page.as_uri()))
    assert any(row and row[0] == "Status" for rows in shown.tables.values() for row in rows)
    shot = tmp_path / "validation.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1200", page.as_uri())
    image = Image.open(shot).convert("RGB")
    colours = dict((colour, n) for n, colour in image.getcolors(maxcolors=1 << 22))
    # The site's own stylesheet (no CDN): header and card backgrounds #eef2f7, links #0b5cad.
    assert colours.get((0xEE, 0xF2, 0xF7), 0) > 5000, "the pages are styled offline"
    assert sum(n for c, n in colours.items() if abs(c[0] - 0x0B) + abs(c[1] - 0x5C) + abs(c[2] - 0xAD) < 60) > 200


def test_the_report_shows_each_feeds_quarantine_share_as_its_check_judged_it(demo_run: DemoRun) -> None:
    page = parse(demo_run.reports / "audit" / DEMO_DAY.isoformat() / "latest.html")
    header, *rows = page.tables["feeds"]
    shown = {row[0]: row[header.index("Quarantined %")] for row in rows}
    with psycopg.connect(demo_run.dsn) as conn:
        checks = {
            feed: (observed, quarantined, checked)
            for feed, observed, quarantined, checked in conn.execute(
                "select v.target, c.observed_value, c.unexpected_count, c.element_count "
                "from audit.latest_validation v join audit.check_result c using (validation_id) "
                "where v.ds = %s and c.check_id = 'quarantine_share'",
                (DEMO_DAY,),
            )
        }
        summaries = {
            feed: (quarantined, checked)
            for feed, quarantined, checked in conn.execute(
                "select v.target, s.records_quarantined, s.records_checked from audit.latest_validation v "
                "join audit.load_summary s using (validation_id) where v.ds = %s",
                (DEMO_DAY,),
            )
        }
        copies = [
            name
            for (name,) in conn.execute(
                "select file_name from meta.load_batch "
                "where feed = 'grid_incidents' and ds = %s and status = 'duplicate'",
                (DEMO_DAY,),
            )
        ]
        (from_copies,) = conn.execute(
            "select count(*) from quarantine.current_rows where feed = 'grid_incidents' and ds = %s "
            "and file_name = any(%s)",
            (DEMO_DAY, copies),
        ).fetchone()
        (received,) = conn.execute(
            "select sum(rows_received) from meta.load_batch where feed = 'grid_incidents' and ds = %s "
            "and status = 'loaded'",
            (DEMO_DAY,),
        ).fetchone()
    assert set(shown) == set(checks) == set(all_contracts())
    for feed, (observed, quarantined, checked) in checks.items():
        assert shown[feed] == observed == share_text(quarantined, checked), feed
        assert summaries[feed] == (quarantined, checked), feed  # the load's counts are the check's
    assert any(value != "0.0%" for value in shown.values()), "the demo day quarantines some records"
    # A re-sent file's rows are not quarantined records: grid_incidents' duplicate delivery stays out of its share.
    assert copies, "the demo day re-sends a grid_incidents file"
    assert from_copies == 0, (copies, from_copies)
    assert checks["grid_incidents"][2] == received, (checks["grid_incidents"], received)  # the copy's rows unchecked


DAY = dt.date(2026, 3, 2)


@pytest.fixture
def audit_history(warehouse_dsn: str) -> str:
    """One day's history: a feed whose quarantine check failed and a warn check, a mart, a dbt build that warned."""
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        conn.execute("create schema audit")
        create_audit_tables(conn)
        run = ("run-1", "grassroots_ingest", "validate", DAY)
        feed = conn.execute(
            "insert into audit.validation_run (run_id, dag_id, task_id, ds, kind, target, suite, success, failed_fail, "
            "failed_warn) values (%s, %s, %s, %s, 'feed', 'health_records', 'feed.health_records', false, 1, 1) "
            "returning validation_id",
            run,
        ).fetchone()[0]
        mart = conn.execute(
            "insert into audit.validation_run (run_id, dag_id, task_id, ds, kind, target, suite, success, failed_fail, "
            "failed_warn) values (%s, %s, %s, %s, 'model', 'kpi_satisfaction_daily', 'model.kpi_satisfaction_daily', "
            "true, 0, 0) returning validation_id",
            run,
        ).fetchone()[0]
        checks = [
            (
                feed,
                "quarantine_share",
                "load",
                "quarantine_share_at_most",
                None,
                "fail",
                False,
                share_text(9, 103),
                103,
                9,
                round(100 * 9 / 103, 3),
                f"9 of 103 records quarantined ({share_text(9, 103)}; at most 5%)",
            ),
            (
                feed,
                "id_validity.id_number",
                "load",
                "id_validity_rate_at_least",
                "id_number",
                "warn",
                False,
                "0.9700",
                110,
                3,
                2.727,
                None,
            ),
            (
                feed,
                "schema",
                "gx",
                "expect_table_columns_to_match_set",
                None,
                "fail",
                True,
                None,
                None,
                None,
                None,
                None,
            ),
            (
                mart,
                "range.satisfied_share",
                "gx",
                "expect_column_values_to_be_between",
                "satisfied_share",
                "fail",
                True,
                None,
                40,
                0,
                0.0,
                None,
            ),
        ]
        conn.cursor().executemany(
            "insert into audit.check_result values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)", checks
        )
        conn.execute(
            "insert into audit.load_summary (validation_id, feed, ds, files, files_rejected, rows_received, "
            "rows_loaded, rows_quarantined, records_checked, records_quarantined) "
            "values (%s, 'health_records', %s, 2, 1, 120, 94, 26, 103, 9)",
            (feed, DAY),
        )
        tests = [
            ("test.grassroots.not_null_fct_a_x.1a", "warn", 4, "dbt_test_failures.not_null_fct_a_x"),
            ("test.grassroots.accepted_values_fct_b_y.2b", "warn", 1, "dbt_test_failures.accepted_values_fct_b_y"),
            ("test.grassroots.unique_fct_c_z.3c", "pass", 0, "dbt_test_failures.unique_fct_c_z"),
            ("model.grassroots.fct_a", "success", None, None),
        ]
        for earlier in (True, False):  # an earlier build of the day whose warnings no longer count
            conn.cursor().executemany(
                "insert into audit.dbt_result (invocation_id, ds, command, unique_id, resource_type, status, "
                "failures, stored_failures, generated_at, recorded_at) values "
                "(%s, %s, 'build', %s, %s, %s, %s, %s, now(), now() - %s * interval '1 hour')",
                [
                    (
                        "old" if earlier else "new",
                        DAY,
                        uid,
                        uid.split(".")[0],
                        "warn" if earlier and uid.startswith("test.") else status,
                        failures,
                        stored,
                        2 if earlier else 0,
                    )
                    for uid, status, failures, stored in tests
                ],
            )
        conn.execute(
            "insert into audit.publication (ds, run_id, status, failed_fail, failed_warn) "
            "values (%s, 'run-1', 'published', 0, 3)",
            (DAY,),
        )
    return warehouse_dsn


def test_the_headline_counts_the_listed_failures_dbt_warnings_included(
    audit_history: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GRASSROOTS_REPORTS_DIR", str(tmp_path))
    page = parse(report.render_run(audit_history, DAY, "run-1"))
    header, *failed = page.tables["failed-checks"]
    by_severity = {row[0]: row for row in page.tables["checks-by-severity"][1:]}
    warn_rows = [row for row in failed if row[0] == "warn"]
    fail_rows = [row for row in failed if row[0] == "fail"]
    dbt_warnings = [row for row in warn_rows if row[1].startswith("dbt:")]
    assert page.ids["headline-warn"] == str(len(warn_rows)) == by_severity["warn"][2] == "3"
    assert page.ids["headline-fail"] == str(len(fail_rows)) == by_severity["fail"][2] == "1"
    assert sorted(row[2] for row in dbt_warnings) == ["accepted_values_fct_b_y", "not_null_fct_a_x"]
    assert by_severity["warn"][3] == "2"
    trend = {row[0]: row for row in page.tables["trends"][1:]}[DAY.isoformat()]
    trends_header = page.tables["trends"][0]
    assert trend[trends_header.index("Failed (warn)")] == "3" and trend[trends_header.index("Failed (fail)")] == "1"

    # The quarantine share: one number in the feeds table, the failed check and its detail, and the trend.
    feeds_header, *feeds = page.tables["feeds"]
    feed = {row[0]: row for row in feeds}["health_records"]
    share = feed[feeds_header.index("Quarantined %")]
    check = next(row for row in failed if row[2] == "quarantine_share")
    assert share == "8.7%" == share_text(9, 103)
    assert check[header.index("Unexpected %")] == share
    assert check[header.index("Observed")].startswith(share) and f"({share};" in check[header.index("Observed")]
    assert trend[trends_header.index("Quarantined %")] == share
    assert feed[feeds_header.index("Records quarantined")] == "9"
    shares = set(re.findall(r"\d+(?:\.\d+)?%", " ".join(" ".join(r) for r in [feed, check])))
    assert shares <= {share, "5%"}, shares  # no other rendering of the same share (0.0874, 7.5%, 21.7%)


def test_the_report_lists_the_days_held_periods_and_which_wait_for_a_later_day(
    audit_history: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The day was built while the next day's files were still due: its month is held (it would mix in
    # a half-loaded next day), as is the next day, neither counting against the day; a table held by
    # a failed test counts against it.
    later = DAY + dt.timedelta(days=1)
    with psycopg.connect(audit_history) as conn:
        (publication,) = conn.execute("select publication_id from audit.publication where ds = %s", (DAY,)).fetchone()
        conn.cursor().executemany(
            "insert into audit.publication_hold (publication_id, relation, period_grain, period_start, reason, own) "
            "values (%s, %s, %s, %s, %s, %s)",
            [
                (publication, "kpi_m", "month", DAY.replace(day=1), f"grid_incidents {later}: missing", False),
                (publication, "kpi_d", "day", later, f"grid_incidents {later}: missing", False),
                (publication, "kpi_t", "table", None, "dbt unique_x: fail", True),
            ],
        )
    monkeypatch.setenv("GRASSROOTS_REPORTS_DIR", str(tmp_path))
    page = parse(report.render_run(audit_history, DAY, "run-1"))
    assert page.ids["publication-status"] == "PUBLISHED"
    header, *rows = page.tables["held-periods"]
    assert header == ["KPI table", "Period", f"Counts against {DAY}", "Reason"]
    assert rows == [
        ["kpi_t", "table", "yes", "dbt unique_x: fail"],
        ["kpi_m", "month 2026-03-01", "no: waits for a later day", f"grid_incidents {later}: missing"],
    ]
