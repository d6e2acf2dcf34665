"""A task's GX session (one context and engine for all its suites) gives each validation the results of its own."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest

from grassroots.quality import data_docs, gx_runner
from grassroots.quality.suites import Check

DAY1, DAY2 = dt.date(2026, 11, 24), dt.date(2026, 11, 25)
CHECKS = [
    Check("not_null.area_code", "expect_column_values_to_not_be_null", {"column": "area_code"}),
    Check(
        "accepted_values.kind", "expect_column_values_to_be_in_set", {"column": "kind", "value_set": ["a", "b"]}, "warn"
    ),
    Check("row_count.min", "expect_table_row_count_to_be_between", {"min_value": 3}),
]


@pytest.fixture
def two_days(warehouse_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """staging.sample: day 1 has a null area_code and an unknown kind among 4 rows, day 2 is clean with 2 rows."""
    monkeypatch.setenv("GRASSROOTS_REPORTS_DIR", str(tmp_path / "reports"))
    with psycopg.connect(warehouse_dsn) as conn:
        conn.execute("create schema if not exists staging")
        conn.execute("create table staging.sample (_ds date, area_code text, kind text)")
        conn.execute(
            "insert into staging.sample values (%s, 'x', 'a'), (%s, null, 'b'), (%s, 'y', 'z'), (%s, 'w', 'a'), "
            "(%s, 'x', 'a'), (%s, 'y', 'b')",
            (DAY1, DAY1, DAY1, DAY1, DAY2, DAY2),
        )
    return warehouse_dsn


def _kept(ds: dt.date) -> dict:
    saved = json.loads((data_docs.results_dir(ds) / "feed.sample.json").read_text(encoding="utf-8"))
    return json.loads(saved["result"])


def test_one_session_validates_a_suite_on_two_days_as_two_fresh_contexts_do(two_days: str) -> None:
    alone = [
        gx_runner.run_checks(two_days, "feed.sample", CHECKS, "staging", "sample", ds, ds=ds) for ds in (DAY1, DAY2)
    ]
    kept_alone = [_kept(ds) for ds in (DAY1, DAY2)]
    session = gx_runner.Session(two_days)
    shared = [session.run_checks("feed.sample", CHECKS, "staging", "sample", ds, ds=ds) for ds in (DAY1, DAY2)]

    assert shared == alone
    day1, day2 = ({r.check_id: r for r in results} for results in shared)
    assert (day1["not_null.area_code"].success, day1["not_null.area_code"].unexpected_count) == (False, 1)
    assert (day1["accepted_values.kind"].severity, day1["accepted_values.kind"].unexpected_count) == ("warn", 1)
    assert day1["row_count.min"].observed_value == "4"
    # The suite's second validation in the session sees day 2's rows, not day 1's again.
    assert (day2["not_null.area_code"].success, day2["not_null.area_code"].unexpected_count) == (True, 0)
    assert (day2["row_count.min"].success, day2["row_count.min"].observed_value) == (False, "2")
    for ds, before in zip((DAY1, DAY2), kept_alone, strict=True):
        after = _kept(ds)
        assert after["suite_name"] == before["suite_name"] == "feed.sample"
        assert after["statistics"] == before["statistics"]
        assert [r["result"] for r in after["results"]] == [r["result"] for r in before["results"]]
        assert after["meta"]["batch_spec"] == before["meta"]["batch_spec"]


def test_a_session_validates_several_tables_each_on_its_own_rows(two_days: str) -> None:
    with psycopg.connect(two_days) as conn:
        conn.execute("create table staging.other as select * from staging.sample where _ds = %s", (DAY2,))
    session = gx_runner.Session(two_days)
    sample = session.run_checks("model.sample", CHECKS, "staging", "sample", DAY1)
    other = session.run_checks("model.other", CHECKS, "staging", "other", DAY1)

    assert {r.check_id: r.observed_value for r in sample}["row_count.min"] == "6"
    assert {r.check_id: r.observed_value for r in other}["row_count.min"] == "2"
    assert all(r.success for r in other if r.check_id != "row_count.min")
    assert sorted(p.name for p in data_docs.results_dir(DAY1).glob("*.json")) == [
        "model.other.json",
        "model.sample.json",
    ]
