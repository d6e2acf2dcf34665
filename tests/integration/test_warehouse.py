"""The dbt warehouse over generated days (the session's `warehouse_days`) through the real DAGs, against the truth."""

from __future__ import annotations

import csv
import json
from collections import Counter

import psycopg
import pytest

from grassroots import settings
from grassroots.generator import Dirt, scenarios
from grassroots.loading import identity
from tests.conftest import TEST_RESIDENTS, TEST_SEED, WAREHOUSE_DAYS, WarehouseDays
from tests.kpi_truth import kpi_mismatches

DAYS = WAREHOUSE_DAYS
FIRST_DAY = DAYS[0]


def test_every_community_kpi_equals_the_truth_on_every_day(warehouse_days: WarehouseDays) -> None:
    for day in DAYS:
        assert warehouse_days.after[day]["mismatches"] == [], day


def test_every_day_still_equals_the_truth_after_the_last_build(warehouse_days: WarehouseDays) -> None:
    """After the last day's build, every earlier day too equals the truth over every delivery so far:
    a record of day 1 delivered late on day 2 restates day 1 (the truth counts it there as well), and
    nothing else about day 1 may move (a re-matched identity, a later registry snapshot)."""
    truths = warehouse_days.truths
    expected = scenarios.expected_kpis(truths, lambda _feed, _day: True, TEST_RESIDENTS, TEST_SEED, Dirt().late_rows)
    restated = [
        (day, family)
        for day, truth in zip(DAYS, truths, strict=True)
        for family in truth["kpi"]
        if truth["kpi"][family] != expected[day]["kpi"][family]
    ]
    assert (DAYS[0], "community_engagement") in restated, "no late record restates the first day: nothing is checked"
    with psycopg.connect(warehouse_days.dsn) as conn:
        problems = [problem for day in DAYS for problem in kpi_mismatches(conn, expected[day], day)]
    assert problems == []


def test_identity_resolution_precision_and_recall_against_the_truth(warehouse_days: WarehouseDays) -> None:
    secret = settings.hmac_secret()
    linked, correct, expected = 0, 0, 0
    for day in DAYS:
        truth_file = warehouse_days.landing / "_truth" / f"{day}.identity.csv"
        with truth_file.open(encoding="utf-8") as handle:
            truth = {(r["feed"], r["file"], int(r["line"])): r["person_id"] for r in csv.DictReader(handle)}
        links = warehouse_days.after[day]["links"]
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


def test_identity_resolution_of_the_feed_without_id_numbers(warehouse_days: WarehouseDays) -> None:
    """community_participation alone: the name + birth date + phone matching is what is scored, on every day."""
    secret = settings.hmac_secret()
    for day in DAYS:
        with (warehouse_days.landing / "_truth" / f"{day}.identity.csv").open(encoding="utf-8") as handle:
            truth = {
                (r["file"], int(r["line"])): r["person_id"]
                for r in csv.DictReader(handle)
                if r["feed"] == "community_participation"
            }
        links = [link for link in warehouse_days.after[day]["links"] if link[0] == "community_participation"]
        outcome = Counter(
            "unmatched" if key is None else ("right" if key == identity.person_key(secret, truth[(f, n)]) else "wrong")
            for _, f, n, key in links
        )
        print(f"community_participation on {day}: {dict(outcome)}")
        assert links and outcome["right"] >= 0.98 * len(links) and outcome["wrong"] == 0, (day, dict(outcome))


def test_two_reruns_of_a_day_at_once_both_succeed_and_leave_every_mart_identical(warehouse_days: WarehouseDays) -> None:
    assert warehouse_days.rerun == [{"grassroots_ingest": "success", "grassroots_warehouse": "success"}] * 2
    assert warehouse_days.decisions == [("published",)] * 3  # the day's first run and both reruns
    assert warehouse_days.marts_before_rerun, "no marts were published"
    assert warehouse_days.marts_after_rerun == warehouse_days.marts_before_rerun


def test_late_rows_for_an_earlier_day_change_its_kpis_on_the_next_run(warehouse_days: WarehouseDays) -> None:
    """Service cases of day 1 delivered on day 2 (inside the look-back window) count for day 1 after day 2."""
    late = [
        d
        for d in warehouse_days.truths[1]["defects"]
        if d["feed"] == "service_applications"
        and d["kind"] == "late_row"
        and d["rule"] is None
        and d["event_date"] == FIRST_DAY.isoformat()
    ]
    assert late, "the generator planted no late service case for the first day"
    with psycopg.connect(warehouse_days.dsn) as conn:
        late_per_community = dict(
            conn.execute(
                "select community_code, count(*) from staging.service_applications "
                "where _ds = %s and (submitted_at at time zone 'Asia/Shanghai')::date = %s group by 1",
                (DAYS[1], FIRST_DAY),
            ).fetchall()
        )
    assert sum(late_per_community.values()) == len(late)
    before = warehouse_days.after[DAYS[0]]["cases_first_day"]
    after = warehouse_days.after[DAYS[1]]["cases_first_day"]
    truth = {code: v["cases"] for code, v in warehouse_days.truths[0]["kpi"]["service_cases"].items()}
    assert before == truth
    assert after == {code: cases + late_per_community.get(code, 0) for code, cases in truth.items()}


def test_no_names_or_phones_in_warehouse_or_marts(warehouse_days: WarehouseDays) -> None:
    with psycopg.connect(warehouse_days.dsn) as conn:
        columns = conn.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where table_schema in ('warehouse', 'marts', 'marts_candidate') "
            "and (column_name like '%%name%%' or column_name like '%%phone%%' or column_name like '%%id_number%%')"
        ).fetchall()
    # names of places (reference data) and of files and projects, never of people
    allowed = {"community_name", "street_name", "district_name", "area_name", "file_name", "project_name"}
    assert [c for c in columns if c[2] not in allowed] == []


def test_dbt_docs_generate_builds_the_docs_site(warehouse_days: WarehouseDays) -> None:
    from grassroots.warehouse.dbt_runner import invoke

    result = invoke("docs generate", DAYS[-1], dsn=warehouse_days.dsn)
    assert result.success, result.exception
    target = settings.state_dir() / "dbt-target"
    catalog = json.loads((target / "catalog.json").read_text())
    assert (target / "index.html").exists()
    assert "model.grassroots.dim_residents" in catalog["nodes"]
    assert "model.grassroots.kpi_service_cases_daily" in catalog["nodes"]


def test_every_dbt_unit_test_passes_and_the_daily_build_leaves_them_to_ci(warehouse_days: WarehouseDays) -> None:
    """The daily build excludes dbt's unit tests (DAILY_BUILD); here every one of them runs and passes."""
    from grassroots.warehouse.dbt_runner import invoke, manifest_path

    result = invoke("test", DAYS[-1], "--select", "test_type:unit", dsn=warehouse_days.dsn)
    assert result.success, result.exception
    declared = {uid for uid in json.loads(manifest_path().read_text())["unit_tests"]}
    ran = {r.node.unique_id: str(r.status) for r in result.result.results}
    assert len(declared) >= 13 and set(ran) == declared
    assert set(ran.values()) == {"pass"}, ran
    with psycopg.connect(warehouse_days.dsn) as conn:
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
    warehouse_days: WarehouseDays, rows: str, failing: list[tuple]
) -> None:
    """The one not-null test per model (dbt/tests/generic/not_null_columns.sql): a failing row per column."""
    from grassroots.warehouse.dbt_runner import invoke

    call = f"{{{{ test_not_null_columns(model='(values {rows}) as t (a, b)', columns=['a', 'b']) }}}}"
    result = invoke("show", DAYS[-1], "--inline", call, dsn=warehouse_days.dsn)
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
