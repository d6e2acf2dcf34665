"""The dbt warehouse over two generated days, run through the real DAGs, checked against the generator's truth."""

from __future__ import annotations

import csv
import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from grassroots import settings
from grassroots.generator import Dirt, feed_server, scenarios
from grassroots.loading import identity
from grassroots.local import pipeline, summary
from grassroots.warehouse import db
from tests.concurrent import run_at_once
from tests.conftest import TEST_RESIDENTS, TEST_SEED
from tests.kpi_truth import kpi_mismatches

DAGS = Path(__file__).resolve().parents[2] / "dags"
FIRST_DAY = dt.date(2026, 11, 23)
DAYS = [FIRST_DAY, FIRST_DAY + dt.timedelta(days=1)]


def _marts(dsn: str) -> dict[str, dict]:
    return {name: stats for name, stats in summary.table_stats(dsn).items() if name.startswith("marts.")}


@pytest.fixture(scope="module")
def two_days(server_dsn: str, airflow_db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Two generated days run through ingest → warehouse → scoring; what each run left behind."""
    from grassroots.generator import generate

    landing = tmp_path_factory.mktemp("warehouse-landing")
    truths = generate(landing, FIRST_DAY, len(DAYS), TEST_RESIDENTS, TEST_SEED)
    name = f"grassroots_test_{uuid.uuid4().hex[:10]}"
    db.ensure_database(server_dsn, name)
    dsn = db.with_database(server_dsn, name)
    server, url = feed_server.serve(landing)
    after: dict[dt.date, dict] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("WAREHOUSE_DSN", dsn)
        patch.setenv("GRASSROOTS_LANDING_DIR", str(landing))
        patch.setenv("GRASSROOTS_API_URL", url)
        try:
            for day in DAYS:
                states = pipeline.run_day(day, DAGS)
                assert all(state == "success" for _, state in states), states
                with psycopg.connect(dsn) as conn:
                    after[day] = {
                        "mismatches": kpi_mismatches(conn, truths[DAYS.index(day)], day),
                        "links": conn.execute(
                            "select feed, file_name, row_no, person_key from int.int_identity_links_unioned "
                            "where delivery_date = %s",
                            (day,),
                        ).fetchall(),
                        "cases_first_day": dict(
                            conn.execute(
                                "select area_code, cases from marts.kpi_service_cases_daily "
                                "where area_level = 'community' and kpi_date = %s",
                                (FIRST_DAY,),
                            ).fetchall()
                        ),
                    }
            marts_before_rerun = _marts(dsn)
            # The last day again, twice at once (every DAG): the runs take turns on the feed-day
            # and warehouse locks; neither fails nor holds, and nothing changes.
            work = tmp_path_factory.mktemp("concurrent-reruns")
            env = {"WAREHOUSE_DSN": dsn, "GRASSROOTS_LANDING_DIR": str(landing), "GRASSROOTS_API_URL": url}
            rerun = run_at_once(DAYS[-1], DAGS, work, env, ("grassroots_ingest", "grassroots_warehouse"))
            with psycopg.connect(dsn) as conn:
                decisions = conn.execute(
                    "select status from audit.publication where ds = %s order by publication_id", (DAYS[-1],)
                ).fetchall()
            yield {
                "dsn": dsn,
                "landing": landing,
                "truths": truths,
                "after": after,
                "rerun": rerun,
                "marts_before_rerun": marts_before_rerun,
                "marts_after_rerun": _marts(dsn),
                "decisions": decisions,
            }
        finally:
            server.shutdown()
            db.drop_database(server_dsn, name)


def test_every_community_kpi_equals_the_truth_on_every_day(two_days: dict) -> None:
    for day in DAYS:
        assert two_days["after"][day]["mismatches"] == [], day


def test_every_day_still_equals_the_truth_after_the_last_build(two_days: dict) -> None:
    """After the last day's build, every earlier day too equals the truth over every delivery so far:
    a record of day 1 delivered late on day 2 restates day 1 (the truth counts it there as well), and
    nothing else about day 1 may move (a re-matched identity, a later registry snapshot)."""
    truths = two_days["truths"]
    expected = scenarios.expected_kpis(truths, lambda _feed, _day: True, TEST_RESIDENTS, TEST_SEED, Dirt().late_rows)
    restated = [
        (day, family)
        for day, truth in zip(DAYS, truths, strict=True)
        for family in truth["kpi"]
        if truth["kpi"][family] != expected[day]["kpi"][family]
    ]
    assert (DAYS[0], "community_engagement") in restated, "no late record restates the first day: nothing is checked"
    with psycopg.connect(two_days["dsn"]) as conn:
        problems = [problem for day in DAYS for problem in kpi_mismatches(conn, expected[day], day)]
    assert problems == []


def test_identity_resolution_precision_and_recall_against_the_truth(two_days: dict) -> None:
    secret = settings.hmac_secret()
    linked, correct, expected = 0, 0, 0
    for day in DAYS:
        truth_file = two_days["landing"] / "_truth" / f"{day}.identity.csv"
        with truth_file.open(encoding="utf-8") as handle:
            truth = {(r["feed"], r["file"], int(r["line"])): r["person_id"] for r in csv.DictReader(handle)}
        links = two_days["after"][day]["links"]
        assert links, f"no identity links for {day}"
        for feed, file_name, row_no, person_key in links:
            person = truth.get((feed, file_name, row_no))
            assert person is not None, f"{feed} {file_name}:{row_no} is not in the truth"
            if person:
                expected += 1
            if person_key is not None:
                linked += 1
                correct += bool(person) and person_key == identity.person_key(secret, person)
    precision, recall = correct / linked, correct / expected
    print(f"identity resolution: precision {precision:.4f}, recall {recall:.4f}")
    print(f"  {correct} correct of {linked} links made, {expected} true links")
    assert precision >= 0.99
    assert recall >= 0.98


def test_identity_resolution_of_the_feed_without_id_numbers(two_days: dict) -> None:
    """community_participation alone: the name + birth date + phone matching is what is scored."""
    secret = settings.hmac_secret()
    day = DAYS[-1]
    with (two_days["landing"] / "_truth" / f"{day}.identity.csv").open(encoding="utf-8") as handle:
        truth = {
            (r["file"], int(r["line"])): r["person_id"]
            for r in csv.DictReader(handle)
            if r["feed"] == "community_participation"
        }
    links = [link for link in two_days["after"][day]["links"] if link[0] == "community_participation"]
    outcome = Counter(
        "unmatched" if key is None else ("right" if key == identity.person_key(secret, truth[(f, n)]) else "wrong")
        for _, f, n, key in links
    )
    print(f"community_participation on {day}: {dict(outcome)}")
    assert outcome["right"] >= 0.98 * len(links) and outcome["wrong"] == 0


def test_two_reruns_of_a_day_at_once_both_succeed_and_leave_every_mart_identical(two_days: dict) -> None:
    assert two_days["rerun"] == [{"grassroots_ingest": "success", "grassroots_warehouse": "success"}] * 2
    assert two_days["decisions"] == [("published",)] * 3  # the day's first run and both reruns
    assert two_days["marts_before_rerun"], "no marts were published"
    assert two_days["marts_after_rerun"] == two_days["marts_before_rerun"]


def test_late_rows_for_an_earlier_day_change_its_kpis_on_the_next_run(two_days: dict) -> None:
    """Service cases of day 1 delivered on day 2 (inside the look-back window) count for day 1 after day 2."""
    late = [
        d
        for d in two_days["truths"][1]["defects"]
        if d["feed"] == "service_applications"
        and d["kind"] == "late_row"
        and d["rule"] is None
        and d["event_date"] == FIRST_DAY.isoformat()
    ]
    assert late, "the generator planted no late service case for the first day"
    with psycopg.connect(two_days["dsn"]) as conn:
        late_per_community = dict(
            conn.execute(
                "select community_code, count(*) from staging.service_applications "
                "where _ds = %s and (submitted_at at time zone 'Asia/Shanghai')::date = %s group by 1",
                (DAYS[1], FIRST_DAY),
            ).fetchall()
        )
    assert sum(late_per_community.values()) == len(late)
    before = two_days["after"][DAYS[0]]["cases_first_day"]
    after = two_days["after"][DAYS[1]]["cases_first_day"]
    truth = {code: v["cases"] for code, v in two_days["truths"][0]["kpi"]["service_cases"].items()}
    assert before == truth
    assert after == {code: cases + late_per_community.get(code, 0) for code, cases in truth.items()}


def test_no_names_or_phones_in_warehouse_or_marts(two_days: dict) -> None:
    with psycopg.connect(two_days["dsn"]) as conn:
        columns = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('warehouse', 'marts', 'marts_candidate') "
            "and (column_name like '%%name%%' or column_name like '%%phone%%' or column_name like '%%id_number%%')"
        ).fetchall()
    # names of places (reference data) and of files and projects, never of people
    allowed = {"community_name", "street_name", "district_name", "area_name", "file_name", "project_name"}
    assert [c for c in columns if c[2] not in allowed] == []


def test_dbt_docs_generate_builds_the_docs_site(two_days: dict) -> None:
    from grassroots.warehouse.dbt_runner import invoke

    result = invoke("docs generate", DAYS[-1], dsn=two_days["dsn"])
    assert result.success, result.exception
    target = settings.state_dir() / "dbt-target"
    catalog = json.loads((target / "catalog.json").read_text())
    assert (target / "index.html").exists()
    assert "model.grassroots.dim_residents" in catalog["nodes"]
    assert "model.grassroots.kpi_service_cases_daily" in catalog["nodes"]


def test_every_dbt_unit_test_passes_and_the_daily_build_leaves_them_to_ci(two_days: dict) -> None:
    """The daily build excludes dbt's unit tests (DAILY_BUILD); here every one of them runs and passes."""
    from grassroots.warehouse.dbt_runner import invoke, manifest_path

    result = invoke("test", DAYS[-1], "--select", "test_type:unit", dsn=two_days["dsn"])
    assert result.success, result.exception
    declared = {uid for uid in json.loads(manifest_path().read_text())["unit_tests"]}
    ran = {r.node.unique_id: str(r.status) for r in result.result.results}
    assert len(declared) >= 13 and set(ran) == declared
    assert set(ran.values()) == {"pass"}, ran
    with psycopg.connect(two_days["dsn"]) as conn:
        daily = conn.execute(
            "select count(*), count(*) filter (where resource_type = 'unit_test') from audit.dbt_result "
            "where command = 'build'"
        ).fetchone()
    assert daily[0] > 0 and daily[1] == 0, daily


@pytest.mark.parametrize(
    ("rows", "failing"),
    [("(1, null), (null, null), (3, 4)", [("a", 1), ("b", 2)]), ("(1, 2), (3, 4)", [])],
)
def test_not_null_columns_names_each_column_with_nulls_and_counts_them(
    two_days: dict, rows: str, failing: list[tuple]
) -> None:
    """The one not-null test per model (dbt/tests/generic/not_null_columns.sql): a failing row per column."""
    from grassroots.warehouse.dbt_runner import invoke

    call = f"{{{{ test_not_null_columns(model='(values {rows}) as t (a, b)', columns=['a', 'b']) }}}}"
    result = invoke("show", DAYS[-1], "--inline", call, dsn=two_days["dsn"])
    assert result.success, result.exception
    assert sorted(tuple(row) for row in result.result.results[0].agate_table.rows) == failing


def test_dbt_declares_who_reads_the_warehouse_as_exposures() -> None:
    """KPI pages, scoring and the watchlist are exposures whose dependencies are the models they read."""
    from grassroots.warehouse.dbt_runner import invoke

    result = invoke(
        "ls", DAYS[-1], "--resource-type", "exposure", "--output", "json", "--output-keys", "name depends_on"
    )
    assert result.success, result.exception
    exposures = {e["name"]: set(e["depends_on"]["nodes"]) for e in map(json.loads, result.result)}
    assert set(exposures) == {"kpi_pages_and_scorecard", "risk_scoring", "grid_worker_watchlist"}
    kpis = {p.stem for p in (settings.dbt_project_dir() / "models" / "marts" / "kpi").glob("kpi_*.sql")}
    assert {f"model.grassroots.{k}" for k in kpis} <= exposures["kpi_pages_and_scorecard"]
    assert "model.grassroots.kpi_top_tier_follow_up_daily" in exposures["kpi_pages_and_scorecard"]
    assert "model.grassroots.fct_resident_features" in exposures["risk_scoring"]
