"""Publication's pure rules: which days a period covers, what a KPI table reads (its dbt lineage), and
which holds are a run's own (only those make its day partial or held and trip the circuit breaker)."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from grassroots.quality import publish
from grassroots.quality.dbt_results import lineage
from grassroots.quality.publish import (
    Decision,
    Inputs,
    PublicationHeld,
    _period_reasons,
    _record,
    _table_reasons,
    calendar_periods,
    circuit_breaker,
    judge,
    period_days,
    run_status,
)

NOV = dt.date(2026, 11, 1)


def test_a_month_covers_only_the_days_the_warehouse_has_run() -> None:
    days = period_days(NOV, "month", dt.date(2026, 11, 21), dt.date(2026, 11, 24))
    assert days == [dt.date(2026, 11, d) for d in (21, 22, 23, 24)]
    assert period_days(dt.date(2026, 11, 20), "day", dt.date(2026, 11, 21), dt.date(2026, 11, 24)) == []
    assert period_days(dt.date(2026, 12, 1), "month", dt.date(2026, 11, 21), dt.date(2026, 12, 31))[-1] == dt.date(
        2026, 12, 31
    )


def _inputs(**changes: object) -> Inputs:
    base = {
        "build": "b1",
        "statuses": {"model.p.kpi_a": "success", "test.p.unique_x.abc": "pass", "model.p.fct_x": "success"},
        "lineage": {
            "kpi_a": (
                ["grid_incidents", "population_registry"],
                ["model.p.fct_x", "test.p.unique_x.abc"],
                "model.p.kpi_a",
            )
        },
        "usable": {
            ("grid_incidents", dt.date(2026, 11, 21)),
            ("population_registry", dt.date(2026, 11, 21)),
            ("population_registry", dt.date(2026, 11, 22)),
        },
        "not_usable": {("grid_incidents", dt.date(2026, 11, 22)): "missing: no delivery recorded"},
        "first_day": dt.date(2026, 11, 21),
        "last_day": dt.date(2026, 11, 22),
        "failed_suites": {},
    }
    return Inputs(**{**base, **changes})


def test_a_period_is_held_for_each_unusable_feed_day_it_covers_with_the_reason() -> None:
    inputs = _inputs()
    feeds = inputs.lineage["kpi_a"][0]
    assert _period_reasons(inputs, feeds, dt.date(2026, 11, 21), "day") == ([], set())
    assert _period_reasons(inputs, feeds, dt.date(2026, 11, 22), "day") == (
        ["grid_incidents 2026-11-22: missing: no delivery recorded"],
        {dt.date(2026, 11, 22)},
    )
    assert _period_reasons(inputs, feeds, NOV, "month") == (
        ["grid_incidents 2026-11-22: missing: no delivery recorded"],
        {dt.date(2026, 11, 22)},
    )
    assert _period_reasons(inputs, ["population_registry"], NOV, "month") == ([], set())
    outside = _period_reasons(inputs, feeds, dt.date(2026, 11, 20), "day")
    assert outside[0] and outside[1] is None  # about no delivery day: held whatever the run's day


def test_a_table_is_held_whole_when_an_upstream_node_or_its_suite_failed() -> None:
    assert _table_reasons(_inputs(), "kpi_a") == []
    failed = _inputs(statuses={"model.p.kpi_a": "success", "test.p.unique_x.abc": "fail", "model.p.fct_x": "success"})
    assert _table_reasons(failed, "kpi_a") == ["dbt unique_x: fail"]
    skipped = _inputs(statuses={"model.p.kpi_a": "skipped"})
    assert "dbt kpi_a: skipped" in _table_reasons(skipped, "kpi_a")
    assert _table_reasons(_inputs(failed_suites={"kpi_a": ["check c1"]}), "kpi_a") == ["check c1"]
    assert _table_reasons(_inputs(), "kpi_b") == ["not built by the day's latest dbt build (no lineage recorded)"]
    assert _table_reasons(_inputs(build=None), "kpi_a") == ["no dbt build of the day recorded"]
    assert Decision("kpi_a", "day").published == []


def test_lineage_follows_every_ancestor_to_its_feeds_and_tests() -> None:
    manifest = {
        "nodes": {
            "model.p.stg_grid": {"resource_type": "model", "schema": "stg", "name": "stg_grid"},
            "model.p.fct_x": {"resource_type": "model", "schema": "warehouse", "name": "fct_x"},
            "model.p.kpi_a": {"resource_type": "model", "schema": "marts_candidate", "name": "kpi_a"},
            "test.p.unique_x.abc": {"resource_type": "test"},
            "test.p.rel_other.def": {"resource_type": "test"},
        },
        "sources": {
            "source.p.grid_incidents.grid_incidents": {"source_name": "grid_incidents"},
            "source.p.meta.load_batch": {"source_name": "meta"},
        },
        "parent_map": {
            "model.p.stg_grid": ["source.p.grid_incidents.grid_incidents", "source.p.meta.load_batch"],
            "model.p.fct_x": ["model.p.stg_grid", "seed.p.geography"],
            "model.p.kpi_a": ["model.p.fct_x"],
        },
        "child_map": {
            "model.p.fct_x": ["model.p.kpi_a", "test.p.unique_x.abc"],
            "model.p.stg_grid": ["model.p.fct_x"],
            "model.p.other": ["test.p.rel_other.def"],
        },
    }
    ((relation, node, feeds, upstream),) = lineage(manifest, "marts_candidate")
    assert (relation, node, feeds) == ("kpi_a", "model.p.kpi_a", ["grid_incidents"])
    assert upstream == ["model.p.fct_x", "model.p.stg_grid", "seed.p.geography", "test.p.unique_x.abc"]
    # A model the build did not run (the scoring DAG's risk KPIs) is not the build's to publish.
    assert lineage(manifest, "marts_candidate", ran={"model.p.fct_x", "model.p.stg_grid"}) == []
    assert [row[0] for row in lineage(manifest, "marts_candidate", ran={"model.p.kpi_a"})] == ["kpi_a"]


def test_every_day_and_month_the_warehouse_ran_gets_a_decision() -> None:
    first, last = dt.date(2026, 11, 29), dt.date(2026, 12, 2)
    assert calendar_periods("day", first, last) == {first + dt.timedelta(days=i) for i in range(4)}
    assert calendar_periods("month", first, last) == {NOV, dt.date(2026, 12, 1)}
    assert calendar_periods("table", None, None) == set()


DAY1, DAY2 = dt.date(2026, 11, 21), dt.date(2026, 11, 22)


class AuditLedger:
    """audit.publication and audit.publication_hold as `_record` writes them and `circuit_breaker`
    reads them back: a stand-in connection (unit tests use no database)."""

    def __init__(self) -> None:
        self.publications: list[tuple] = []
        self.holds: list[tuple] = []

    def execute(self, query: object, params: tuple = ()) -> AuditLedger:
        self._rows: list[tuple] = []
        if isinstance(query, str) and query.startswith("insert into audit.publication "):
            self.publications.append(params)
            self._rows = [(len(self.publications),)]
        elif isinstance(query, str) and query.startswith("select status, reason from audit.publication "):
            self._rows = [(p[2], p[5]) for p in self.publications if p[:2] == params][-1:]
        return self

    def fetchone(self) -> tuple | None:
        return self._rows[0] if self._rows else None

    def executemany(self, query: object, rows: list[tuple]) -> None:
        if isinstance(query, str) and query.startswith("insert into audit.publication_hold "):
            self.holds += rows

    def cursor(self) -> AuditLedger:
        return self

    def __enter__(self) -> AuditLedger:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def _run(inputs: Inputs, ds: dt.date, monkeypatch: pytest.MonkeyPatch) -> tuple[str, AuditLedger]:
    """Judge a daily and a monthly KPI table over every period the warehouse ran, record the run for
    ds, and return its status and the ledger (its circuit breaker is then checked by the caller)."""
    first, last = inputs.first_day, inputs.last_day
    inputs = dataclasses.replace(inputs, lineage={**inputs.lineage, "kpi_m": inputs.lineage["kpi_a"]})
    decisions = [
        judge(inputs, "kpi_a", "day", calendar_periods("day", first, last)),
        judge(inputs, "kpi_m", "month", calendar_periods("month", first, last)),
    ]
    ledger = AuditLedger()
    monkeypatch.setattr(publish, "_refresh_status", lambda conn, decisions: None)
    monkeypatch.setattr(publish.psycopg, "connect", lambda dsn: ledger)
    status, _ = _record(ledger, ds, "run-1", decisions, 0)  # type: ignore[arg-type]
    assert run_status(decisions, ds)[0] == status
    return status, ledger


def test_a_month_held_only_for_a_later_days_delivery_is_not_the_runs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # Day 21 was built while day 22's API feeds were loaded and its file feed (grid_incidents) was not.
    status, ledger = _run(_inputs(), DAY1, monkeypatch)
    assert status == "published"
    circuit_breaker("dsn", DAY1, "run-1")  # passes: nothing of day 21 itself was held
    assert ledger.publications[0][5] is None  # no reason: the day's own periods were all published
    # The month stays held (BI keeps the last good month; it would mix in a half-loaded day 22),
    # recorded with its reason and as not the run's own; so is day 22.
    holds = {(relation, period): (reason, own) for _, relation, _, period, reason, own in ledger.holds}
    assert holds == {
        ("kpi_m", NOV): ("grid_incidents 2026-11-22: missing: no delivery recorded", False),
        ("kpi_a", DAY2): ("grid_incidents 2026-11-22: missing: no delivery recorded", False),
    }


def test_a_month_held_for_a_delivery_of_the_day_or_before_is_the_runs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    # Day 22's run: the month is held for day 22's own missing feed.
    status, ledger = _run(_inputs(), DAY2, monkeypatch)
    assert status == "held"  # neither day 22 nor its month was published
    with pytest.raises(PublicationHeld, match="kpi_m 2026-11-01: grid_incidents 2026-11-22"):
        circuit_breaker("dsn", DAY2, "run-1")

    # Day 22's run after day 21's delivery went bad: day 22 is published, the month is not.
    earlier = _inputs(
        usable={("grid_incidents", DAY2), ("population_registry", DAY1), ("population_registry", DAY2)},
        not_usable={("grid_incidents", DAY1): "failed: check quarantine_share"},
    )
    status, ledger = _run(earlier, DAY2, monkeypatch)
    assert status == "partial"
    with pytest.raises(PublicationHeld, match="kpi_m 2026-11-01: grid_incidents 2026-11-21: failed"):
        circuit_breaker("dsn", DAY2, "run-1")
    assert [(relation, own) for _, relation, _, period, _, own in ledger.holds] == [("kpi_a", False), ("kpi_m", True)]

    # A month held for the run's day and a later day is the run's own too.
    both = _inputs(usable={("population_registry", DAY1), ("population_registry", DAY2)}, not_usable={})
    status, ledger = _run(both, DAY1, monkeypatch)
    assert status == "held"
    assert {(relation, period): own for _, relation, _, period, _, own in ledger.holds} == {
        ("kpi_a", DAY1): True,
        ("kpi_a", DAY2): False,
        ("kpi_m", NOV): True,
    }


def test_a_failed_node_or_suite_holds_the_day_whatever_the_later_days(monkeypatch: pytest.MonkeyPatch) -> None:
    # Day 21's deliveries are all usable (day 22's file feed is still due), but a test upstream failed.
    failed = _inputs(statuses={"model.p.kpi_a": "success", "test.p.unique_x.abc": "fail", "model.p.fct_x": "success"})
    status, ledger = _run(failed, DAY1, monkeypatch)
    assert status == "held"
    with pytest.raises(PublicationHeld, match="kpi_a 2026-11-21: dbt unique_x: fail"):
        circuit_breaker("dsn", DAY1, "run-1")
    holds = {(relation, period): own for _, relation, _, period, _, own in ledger.holds}
    assert holds[("kpi_a", DAY1)] is True and holds[("kpi_m", NOV)] is True  # the month: day 22 and the test
    assert ledger.publications[0][3] == 2  # failed_fail: the day and its month

    # The mart suite of the monthly table alone: the daily table publishes day 21, the month is held.
    suite = _inputs(failed_suites={"kpi_m": ["check row_count: 0 rows"]})
    status, ledger = _run(suite, DAY1, monkeypatch)
    assert status == "partial"
    with pytest.raises(PublicationHeld, match="kpi_m 2026-11-01: .*check row_count: 0 rows"):
        circuit_breaker("dsn", DAY1, "run-1")
    # A table without periods held by a failed node is the run's own as well.
    table = judge(failed, "kpi_a", "table", set())
    assert table.held == {None: ["dbt unique_x: fail"]} and run_status([table], DAY1) == (
        "held",
        ["kpi_a: dbt unique_x: fail"],
    )
